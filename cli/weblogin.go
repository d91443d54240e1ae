package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/slipway/slipway/api/client"
)

// webLoginTimeout bounds how long `slip login --web` waits for the browser
// or the device approval.
const webLoginTimeout = 5 * time.Minute

type providerInfo struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	DeviceFlow bool   `json:"deviceFlow"`
}

// browserLogin logs in through an OIDC provider: a browser redirect to a
// loopback listener, or the device flow when no browser can be opened (or
// --device asks for it).
func (a *App) browserLogin(ctx context.Context, anon *client.Client, server string, o *loginOptions) (loginResult, error) {
	var doc struct {
		Providers []providerInfo `json:"providers"`
	}
	if err := anon.Do(ctx, http.MethodGet, "/auth/providers", "", nil, &doc); err != nil {
		return loginResult{}, failedTo("list the identity providers of "+server, err)
	}
	var p *providerInfo
	for i := range doc.Providers {
		q := &doc.Providers[i]
		if q.Type == "oidc" && (o.provider == "" || q.Name == o.provider) {
			p = q
			break
		}
	}
	if p == nil {
		if o.provider != "" {
			return loginResult{}, fmt.Errorf("%s has no browser login provider named %q", server, o.provider)
		}
		return loginResult{}, fmt.Errorf("%s has no browser login provider: log in with -u USERNAME", server)
	}
	o.provider = p.Name
	ctx, cancel := context.WithTimeout(ctx, webLoginTimeout)
	defer cancel()
	if o.device {
		if !p.DeviceFlow {
			return loginResult{}, fmt.Errorf("identity provider %q does not offer the device flow: use --web", p.Name)
		}
		return a.deviceLogin(ctx, anon, p.Name)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loginResult{}, fmt.Errorf("listen for the browser's answer: %w", err)
	}
	tokens := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if r.URL.Path != "/callback" || token == "" {
			http.Error(w, "not a login answer", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>Slipway login</title><p>Logged in. You can close this window and return to the terminal.</p>\n")
		select {
		case tokens <- token:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	then := "http://" + ln.Addr().String() + "/callback"
	start := loginStartURL(server, p.Name, then)
	if err := a.OpenBrowser(start); err != nil {
		if p.DeviceFlow {
			fmt.Fprintf(a.Stderr, "Cannot open a browser (%v); using a device code instead.\n", err)
			return a.deviceLogin(ctx, anon, p.Name)
		}
		fmt.Fprintf(a.Stderr, "Open this URL in a browser on this machine to log in:\n\n    %s\n\n", start)
	} else {
		fmt.Fprintf(a.Stderr, "A browser opened to log you in; if it did not, open:\n\n    %s\n\n", start)
	}
	select {
	case t := <-tokens:
		return loginResult{Token: t}, nil
	case <-ctx.Done():
		return loginResult{}, fmt.Errorf("no login from the browser within %s: %w", webLoginTimeout, ctx.Err())
	}
}

// deviceLogin runs the OAuth device flow: show a code, wait for approval.
func (a *App) deviceLogin(ctx context.Context, anon *client.Client, provider string) (loginResult, error) {
	base := "/auth/oidc/" + url.PathEscape(provider) + "/device"
	var device map[string]any
	if err := anon.Do(ctx, http.MethodPost, base, "", nil, &device); err != nil {
		return loginResult{}, failedTo("start a device login with "+provider, err)
	}
	uri, _ := device["verificationURIComplete"].(string)
	code, _ := device["userCode"].(string)
	if uri == "" {
		uri, _ = device["verificationURI"].(string)
	}
	fmt.Fprintf(a.Stderr, "To log in, open\n\n    %s\n\nin a browser on any device and enter the code %s\nWaiting for approval...\n", uri, code)
	body, err := json.Marshal(device)
	if err != nil {
		return loginResult{}, err
	}
	var res loginResult
	// The server holds the request until the login is approved, denied or
	// expired.
	if err := anon.Do(ctx, http.MethodPost, base+"/token", "application/json", body, &res); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return res, fmt.Errorf("no approval within %s", webLoginTimeout)
		}
		return res, failedTo("device login with "+provider, err)
	}
	return res, nil
}

// openBrowser opens url in the user's browser: $BROWSER, else the
// platform's opener.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch {
	case os.Getenv("BROWSER") != "":
		cmd = exec.Command(os.Getenv("BROWSER"), url)
	case runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
		return errors.New("no graphical display")
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", url)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	return cmd.Start()
}
