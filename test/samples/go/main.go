// Command slipway-sample-go is the Go sample application: an HTTP server
// on $PORT (default 8080) with no dependencies outside the standard
// library, so it builds without network.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from the Slipway Go sample (build %s)\n", os.Getenv("OPENSHIFT_BUILD_NAME"))
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
