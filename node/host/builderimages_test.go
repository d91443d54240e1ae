package host_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/host"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// TestBuilderImages: a node started with builder image archives imports
// them under the registry's name and, given a builder token as slipway up
// gives it, pushes them into slipway-system of the registry.
func TestBuilderImages(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd (Debian package containerd)", "containerd")
	testpeer.RequireBinary(t, "busybox-static", "/bin/busybox")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testpeer.Missing(t, "containernetworking-plugins", err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	archives := filepath.Join(dir, "images")
	if _, err := images.BuildAll(ctx, archives, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "server"),
		DatabaseURL: storetest.NewDatabase(t), BootstrapPassword: adminPassword, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	nodeToken, err := srv.ServiceAccountToken(ctx, "slipway-system", "node-images", "system:node")
	if err != nil {
		t.Fatal(err)
	}
	pushToken, err := srv.ServiceAccountToken(ctx, "slipway-system", "builder-images", "system:builder")
	if err != nil {
		t.Fatal(err)
	}
	nodeClient, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile(), Token: nodeToken})
	if err != nil {
		t.Fatal(err)
	}
	bridge := fmt.Sprintf("slwi%d", os.Getpid()%100000)
	testpeer.ReclaimLinks(t, "slwi")
	ns := fmt.Sprintf("slipway-host-images-%d", os.Getpid())
	n, err := host.Start(ctx, host.Config{Name: "imagestest", Dir: filepath.Join(dir, "node"), Client: nodeClient,
		PodSubnet: "10.252.9.0/24", Bridge: bridge, Namespace: ns, Logger: quiet,
		RegistryHost: srv.RegistryHost(), BuilderImages: archives, BuilderImagesToken: pushToken})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(ctx, true); err != nil {
			t.Errorf("stop node: %v", err)
		}
		exec.Command("ip", "link", "del", bridge).Run()
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
		for _, d := range append(dirs, filepath.Join("/run/containerd/runc", ns)) {
			os.Remove(d)
		}
	}()
	ref := images.Ref(srv.RegistryHost(), images.Static)
	img, err := n.Containerd().Client().GetImage(namespaces.WithNamespace(ctx, ns), ref)
	if err != nil {
		t.Fatalf("builder image not imported as %s: %v", ref, err)
	}
	caPEM, _ := os.ReadFile(srv.CAFile())
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}}
	req, _ := http.NewRequest(http.MethodHead, srv.URL()+"/v2/slipway-system/s2i-static/manifests/latest", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	req.SetBasicAuth("x", nodeToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != img.Target().Digest.String() {
		t.Errorf("registry manifest: %s, digest %q, want 200 and %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), img.Target().Digest)
	}
}
