"""The Python sample application: an HTTP server on $PORT (default 8080)
using only the standard library, so it builds without network."""
import http.server
import os


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("Hello from the Slipway Python sample (build %s)\n"
                % os.environ.get("OPENSHIFT_BUILD_NAME", "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print("listening on :%d" % port, flush=True)
    http.server.ThreadingHTTPServer(("", port), Hello).serve_forever()
