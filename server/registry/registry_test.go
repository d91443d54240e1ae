package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/sampleimage"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var catalogue = api.NewCatalogue()

func lookup(plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		panic(plural)
	}
	return r
}

// env is a real API server with two projects: shop (alice is its admin,
// vic views it) and other (bob is its admin), and a node service account.
type env struct {
	*servertest.Env
	host                            string // localhost:PORT
	certDir                         string // holds the cluster CA as ca.crt, for skopeo
	http                            *http.Client
	alice, bob, vic, node, adminTok string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	se := servertest.Start(t, server.Config{})
	e := &env{Env: se, host: se.Server.RegistryHost(), certDir: t.TempDir()}
	ca, err := os.ReadFile(se.Server.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.certDir, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	e.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	e.adminTok = se.Token(t, "admin", servertest.AdminPassword)
	for _, u := range []string{"alice", "bob", "vic"} {
		if err := se.Admin.Create(ctx, lookup(api.UsersResource), "", map[string]any{"metadata": map[string]any{"name": u},
			"spec": map[string]any{"identities": []string{"local:" + u}}}, nil); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"password": "password-of-" + u})
		if err := se.Admin.Do(ctx, "PUT", "/api/v1/users/"+u+"/password", "application/json", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.alice, e.bob, e.vic = se.Token(t, "alice", "password-of-alice"), se.Token(t, "bob", "password-of-bob"), se.Token(t, "vic", "password-of-vic")
	for _, p := range []struct{ token, name string }{{e.alice, "shop"}, {e.bob, "other"}} {
		if err := se.Client(t, p.token).Create(ctx, lookup(api.ProjectsResource), "", map[string]any{"metadata": map[string]any{"name": p.name}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	spec := api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []api.Subject{{Kind: api.UserSubject, Name: "vic"}}}
	if err := se.Client(t, e.alice).Create(ctx, lookup(api.RoleBindingsResource), "shop", map[string]any{"metadata": map[string]any{"name": "viewers"}, "spec": spec}, nil); err != nil {
		t.Fatal(err)
	}
	if e.node, err = se.Server.ServiceAccountToken(ctx, "slipway-system", "node-test", "system:node"); err != nil {
		t.Fatal(err)
	}
	// Bindings reach the authorizer through an informer: wait for vic's.
	waitFor(t, func() error {
		code, _ := e.do(t, "GET", "/v2/shop/web/tags/list", e.vic, nil, nil)
		if code == http.StatusForbidden {
			return fmt.Errorf("vic still denied")
		}
		return nil
	})
	return e
}

func waitFor(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends a registry request with token as Basic credentials ("" for
// none) and returns the status and body.
func (e *env) do(t testing.TB, method, path, token string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	resp := e.send(t, method, path, token, body, hdr)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) send(t testing.TB, method, path, token string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+e.host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x:"+token)))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// skopeo runs skopeo and returns its combined output.
func (e *env) skopeo(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := testpeer.RequireBinary(t, "skopeo", "skopeo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--insecure-policy"}, args...)...).CombinedOutput()
	return string(out), err
}

func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var eb struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &eb); err != nil || len(eb.Errors) == 0 {
		t.Fatalf("not a distribution error body: %s", body)
	}
	return eb.Errors[0].Code
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// sampleArchive builds an OCI archive offline.
func sampleArchive(t testing.TB, ref string, files map[string][]byte) string {
	t.Helper()
	path, err := sampleimage.Build(context.Background(), t.TempDir(), sampleimage.Spec{Ref: ref, Files: files})
	if err != nil {
		testpeer.Missing(t, "busybox-static", err)
	}
	return path
}

func (e *env) image(t testing.TB, token, project, name string) api.ImageStatus {
	t.Helper()
	var img api.Image
	if err := e.Client(t, token).Get(context.Background(), lookup(api.ImagesResource), project, name, &img); err != nil {
		t.Fatal(err)
	}
	return img.Status
}

// TestSkopeoPushPull pushes an image with a standard client, checks the
// Image object, pulls it back by tag and digest, and checks who may.
func TestSkopeoPushPull(t *testing.T) {
	e := newEnv(t)
	archive := sampleArchive(t, "localhost/sample/web:v1", nil)
	dest := "docker://" + e.host + "/shop/web:v1"
	if out, err := e.skopeo(t, "copy", "--dest-creds", "x:"+e.alice, "--dest-cert-dir", e.certDir, "oci-archive:"+archive, dest); err != nil {
		t.Fatalf("skopeo push: %v\n%s", err, out)
	}
	out, err := e.skopeo(t, "inspect", "--creds", "x:"+e.vic, "--cert-dir", e.certDir, "--raw", dest)
	if err != nil {
		t.Fatalf("skopeo inspect as a viewer: %v\n%s", err, out)
	}
	digest := digestOf([]byte(out))

	st := e.image(t, e.vic, "shop", "web")
	tag := st.Tag("v1")
	if st.Repository != e.host+"/shop/web" || tag == nil || tag.Digest != digest || tag.Image != e.host+"/shop/web@"+digest ||
		tag.Created.IsZero() || len(tag.History) != 1 || tag.History[0].Digest != digest {
		t.Fatalf("image status after the push = %+v, want tag v1 at %s", st, digest)
	}

	// Pull by digest (as a viewer) into an OCI layout, and by tag as the
	// node agent, which may pull from every project.
	layout := t.TempDir()
	if out, err := e.skopeo(t, "copy", "--src-creds", "x:"+e.vic, "--src-cert-dir", e.certDir,
		"docker://"+e.host+"/shop/web@"+digest, "oci:"+layout+":pulled"); err != nil {
		t.Fatalf("pull by digest: %v\n%s", err, out)
	}
	if out, err := e.skopeo(t, "copy", "--src-creds", "x:"+e.node, "--src-cert-dir", e.certDir, dest, "oci:"+t.TempDir()+":pulled"); err != nil {
		t.Fatalf("pull as the node: %v\n%s", err, out)
	}

	// A viewer may not push; another project's admin may not pull; a wrong
	// token is refused outright.
	if out, err := e.skopeo(t, "copy", "--dest-creds", "x:"+e.vic, "--dest-cert-dir", e.certDir, "oci-archive:"+archive, e.hostRef("shop/web:viewer")); err == nil {
		t.Fatalf("a viewer pushed:\n%s", out)
	}
	if out, err := e.skopeo(t, "inspect", "--creds", "x:"+e.bob, "--cert-dir", e.certDir, "--raw", dest); err == nil || !strings.Contains(strings.ToLower(out), "denied") {
		t.Fatalf("another project's admin pulled or was not denied: %v\n%s", err, out)
	}
	if out, err := e.skopeo(t, "inspect", "--creds", "x:not-a-token", "--cert-dir", e.certDir, "--raw", dest); err == nil {
		t.Fatalf("a wrong token pulled:\n%s", out)
	}

	// Pushing the same image again under another tag records it too; a new
	// image under v1 extends v1's history.
	archive2 := sampleArchive(t, "localhost/sample/web:v2", map[string][]byte{"/www/index.html": []byte("v2\n")})
	if out, err := e.skopeo(t, "copy", "--dest-creds", "x:"+e.alice, "--dest-cert-dir", e.certDir, "oci-archive:"+archive2, dest); err != nil {
		t.Fatalf("skopeo push v2: %v\n%s", err, out)
	}
	st = e.image(t, e.alice, "shop", "web")
	tag = st.Tag("v1")
	if tag == nil || tag.Digest == digest || len(tag.History) != 2 || tag.History[1].Digest != digest || tag.History[0].Digest != tag.Digest {
		t.Fatalf("v1 after a second push = %+v, want a new digest with the old one in history", tag)
	}

	code, body := e.do(t, "GET", "/v2/shop/web/tags/list", e.vic, nil, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"tags":["v1"]`) {
		t.Fatalf("tags/list = %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/v2/_catalog", e.bob, nil, nil)
	if code != http.StatusOK || strings.Contains(string(body), "shop/web") {
		t.Fatalf("bob's catalogue = %d %s, want shop/web hidden", code, body)
	}

	// The server's /metrics counts what happened.
	code, body = e.do(t, "GET", "/metrics", "", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{`slipway_registry_requests_total{code="201",method="PUT",route="manifests"} 2`,
		"slipway_registry_manifests_pushed_total 2", `slipway_registry_requests_total{code="403",method="GET",route="manifests"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, name := range []string{"slipway_registry_received_bytes_total", "slipway_registry_sent_bytes_total", "slipway_registry_blobs_stored_total"} {
		if !regexp.MustCompile(`(?m)^` + name + ` [1-9]`).Match(body) {
			t.Errorf("/metrics: %s is not positive", name)
		}
	}
}

func (e *env) hostRef(ref string) string { return "docker://" + e.host + "/" + ref }

// TestAuthentication covers the challenge, both credential forms and the
// error bodies.
func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	resp := e.send(t, "GET", "/v2/", "", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("anonymous GET /v2/ = %d, WWW-Authenticate %q; want 401 with a Basic challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, _ := e.do(t, "GET", "/v2/", e.alice, nil, nil); code != http.StatusOK {
		t.Fatalf("GET /v2/ with Basic = %d", code)
	}
	if code, _ := e.do(t, "GET", "/v2/", "", nil, map[string]string{"Authorization": "Bearer " + e.alice}); code != http.StatusOK {
		t.Fatalf("GET /v2/ with Bearer = %d", code)
	}
	code, body := e.do(t, "GET", "/v2/", "wrong", nil, nil)
	if code != http.StatusUnauthorized || errorCode(t, body) != "UNAUTHORIZED" {
		t.Fatalf("wrong token = %d %s", code, body)
	}
	// Denial comes before any lookup: the same for a repository that
	// exists and one that does not.
	for _, path := range []string{"/v2/shop/web/manifests/latest", "/v2/shop/nothing/manifests/latest"} {
		code, body := e.do(t, "GET", path, e.bob, nil, nil)
		if code != http.StatusForbidden || errorCode(t, body) != "DENIED" {
			t.Fatalf("bob GET %s = %d %s, want 403 DENIED", path, code, body)
		}
	}
	if code, body := e.do(t, "POST", "/v2/shop/web/blobs/uploads/", e.bob, nil, nil); code != http.StatusForbidden || errorCode(t, body) != "DENIED" {
		t.Fatalf("bob pushing into shop = %d %s, want 403 DENIED", code, body)
	}
	resp = e.send(t, "GET", "/v2/shop/web/tags/list", "", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous pull = %d, want 401 with a challenge", resp.StatusCode)
	}
	code, body = e.do(t, "GET", "/v2/shop/a/b/manifests/latest", e.alice, nil, nil)
	if code != http.StatusBadRequest && code != http.StatusNotFound || errorCode(t, body) != "NAME_INVALID" {
		t.Fatalf("nested repository = %d %s, want NAME_INVALID", code, body)
	}
}

// pushBlob uploads content monolithically into repo as token.
func (e *env) pushBlob(t testing.TB, token, repo string, content []byte) string {
	t.Helper()
	d := digestOf(content)
	code, body := e.do(t, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, token, content, map[string]string{"Content-Type": "application/octet-stream"})
	if code != http.StatusCreated {
		t.Fatalf("push blob to %s: %d %s", repo, code, body)
	}
	return d
}

// pushManifest puts an image manifest of config and layers under ref.
func (e *env) pushManifest(t testing.TB, token, repo, ref string, config, layer string) (int, []byte, string) {
	t.Helper()
	m := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}}}
	raw, _ := json.Marshal(m)
	code, body := e.do(t, "PUT", "/v2/"+repo+"/manifests/"+ref, token, raw, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	return code, body, digestOf(raw)
}

// TestUploadsManifestsAndGC drives the API directly: chunked uploads,
// digest checks, cross-repo mounts, manifest checks, deletes and garbage
// collection.
func TestUploadsManifestsAndGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// Chunked upload: POST, two PATCHes, PUT with the digest.
	content := []byte("hello, chunked world")
	resp := e.send(t, "POST", "/v2/shop/app/blobs/uploads/", e.alice, nil, nil)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload = %d, Location %q", resp.StatusCode, loc)
	}
	if code, body := e.do(t, "PATCH", loc, e.alice, content[:7], map[string]string{"Content-Range": "0-6"}); code != http.StatusAccepted {
		t.Fatalf("first chunk = %d %s", code, body)
	}
	if code, body := e.do(t, "PATCH", loc, e.alice, content[7:10], map[string]string{"Content-Range": "0-2"}); code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("out-of-order chunk = %d %s, want 416", code, body)
	}
	if code, body := e.do(t, "PATCH", loc, e.alice, content[7:], nil); code != http.StatusAccepted {
		t.Fatalf("second chunk = %d %s", code, body)
	}
	layer := digestOf(content)
	if code, body := e.do(t, "PUT", loc+"?digest="+layer, e.alice, nil, nil); code != http.StatusCreated {
		t.Fatalf("finish upload = %d %s", code, body)
	}
	code, body := e.do(t, "GET", "/v2/shop/app/blobs/"+layer, e.vic, nil, nil)
	if code != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET blob = %d %q", code, body)
	}

	// A wrong digest is refused, and nothing is stored under it.
	bad := digestOf([]byte("something else"))
	code, body = e.do(t, "POST", "/v2/shop/app/blobs/uploads/?digest="+bad, e.alice, []byte("not that"), nil)
	if code != http.StatusBadRequest || errorCode(t, body) != "DIGEST_INVALID" {
		t.Fatalf("bad digest = %d %s", code, body)
	}
	if code, _ := e.do(t, "HEAD", "/v2/shop/app/blobs/"+bad, e.alice, nil, nil); code != http.StatusNotFound {
		t.Fatalf("HEAD of the refused blob = %d", code)
	}

	// A manifest naming a blob the repository lacks is refused.
	config := e.pushBlob(t, e.alice, "shop/app", []byte("{}"))
	missing := digestOf([]byte("never pushed"))
	if code, body, _ := e.pushManifest(t, e.alice, "shop/app", "v1", config, missing); code != http.StatusBadRequest || errorCode(t, body) != "MANIFEST_BLOB_UNKNOWN" {
		t.Fatalf("manifest with a missing layer = %d %s", code, body)
	}
	code, body, manifest := e.pushManifest(t, e.alice, "shop/app", "v1", config, layer)
	if code != http.StatusCreated {
		t.Fatalf("push manifest = %d %s", code, body)
	}
	// By digest: the digest in the URL must match the body.
	if code, body, _ := e.pushManifest(t, e.alice, "shop/app", bad, config, layer); code != http.StatusBadRequest || errorCode(t, body) != "DIGEST_INVALID" {
		t.Fatalf("manifest under a wrong digest = %d %s", code, body)
	}
	resp = e.send(t, "HEAD", "/v2/shop/app/manifests/"+manifest, e.vic, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != manifest || resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("HEAD manifest by digest = %d %v", resp.StatusCode, resp.Header)
	}

	// An index may only name manifests the repository holds.
	index := func(child string) []byte {
		raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
			"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": 10,
				"platform": map[string]string{"os": "linux", "architecture": "amd64"}}}})
		return raw
	}
	ct := map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}
	if code, body := e.do(t, "PUT", "/v2/shop/app/manifests/multi", e.alice, index(missing), ct); code != http.StatusBadRequest || errorCode(t, body) != "MANIFEST_BLOB_UNKNOWN" {
		t.Fatalf("index of an unknown manifest = %d %s", code, body)
	}
	if code, body := e.do(t, "PUT", "/v2/shop/app/manifests/multi", e.alice, index(manifest), ct); code != http.StatusCreated {
		t.Fatalf("index = %d %s", code, body)
	}
	resp = e.send(t, "GET", "/v2/shop/app/manifests/multi", e.vic, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" ||
		resp.Header.Get("Docker-Content-Digest") != digestOf(index(manifest)) {
		t.Fatalf("GET index = %d %v", resp.StatusCode, resp.Header)
	}
	if code, body := e.do(t, "DELETE", "/v2/shop/app/manifests/multi", e.alice, nil, nil); code != http.StatusAccepted {
		t.Fatalf("delete tag multi = %d %s", code, body)
	}

	// Cross-repo mount within the project: no upload needed.
	resp = e.send(t, "POST", "/v2/shop/copy/blobs/uploads/?mount="+layer+"&from=shop/app", e.alice, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != layer {
		t.Fatalf("mount = %d", resp.StatusCode)
	}
	if code, _ := e.do(t, "HEAD", "/v2/shop/copy/blobs/"+layer, e.alice, nil, nil); code != http.StatusOK {
		t.Fatalf("mounted blob HEAD = %d", code)
	}
	// From a project the caller cannot read, a mount falls back to an
	// upload session: it neither copies nor reveals the blob.
	resp = e.send(t, "POST", "/v2/other/steal/blobs/uploads/?mount="+layer+"&from=shop/app", e.bob, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mount from a foreign project = %d, want 202 (an upload session)", resp.StatusCode)
	}
	if code, _ := e.do(t, "HEAD", "/v2/other/steal/blobs/"+layer, e.bob, nil, nil); code != http.StatusNotFound {
		t.Fatalf("foreign blob visible after a refused mount: HEAD = %d", code)
	}
	// Knowing a digest is not enough to read another repository's blob.
	bobs := e.pushBlob(t, e.bob, "other/mine", []byte("bob's"))
	if code, _ := e.do(t, "HEAD", "/v2/other/mine/blobs/"+layer, e.bob, nil, nil); code != http.StatusNotFound {
		t.Fatalf("unlinked blob HEAD = %d, want 404", code)
	}

	// Garbage collection: an unreferenced blob goes, referenced ones stay.
	orphan := e.pushBlob(t, e.alice, "shop/app", []byte("orphan layer"))
	res, err := e.Server.Registry().CollectGarbage(ctx, time.Hour)
	if err != nil || len(res.Blobs) != 0 {
		t.Fatalf("collection within the grace period deleted %v (err %v)", res.Blobs, err)
	}
	res, err = e.Server.Registry().CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for _, d := range res.Blobs {
		gone[d] = true
	}
	if !gone[orphan] || !gone[bobs] || gone[layer] || gone[config] || len(gone) != 2 {
		t.Fatalf("collected %v: want the orphans %s and %s, not the referenced %s and %s", res.Blobs, orphan, bobs, layer, config)
	}
	if code, _ := e.do(t, "HEAD", "/v2/shop/app/blobs/"+orphan, e.alice, nil, nil); code != http.StatusNotFound {
		t.Fatalf("collected blob HEAD = %d", code)
	}
	if code, body := e.do(t, "GET", "/v2/shop/app/blobs/"+layer, e.alice, nil, nil); code != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("referenced blob after GC = %d", code)
	}

	// Deleting the manifest drops its tag from the Image and lets GC take
	// its blobs.
	st := e.image(t, e.alice, "shop", "app")
	if st.Tag("v1") == nil || st.Tag("v1").Digest != manifest {
		t.Fatalf("image status = %+v", st)
	}
	if code, body := e.do(t, "DELETE", "/v2/shop/app/manifests/"+manifest, e.vic, nil, nil); code != http.StatusForbidden {
		t.Fatalf("a viewer deleted: %d %s", code, body)
	}
	if code, body := e.do(t, "DELETE", "/v2/shop/app/manifests/"+manifest, e.alice, nil, nil); code != http.StatusAccepted {
		t.Fatalf("delete manifest = %d %s", code, body)
	}
	if st := e.image(t, e.alice, "shop", "app"); len(st.Tags) != 0 {
		t.Fatalf("image status after delete = %+v", st)
	}
	if code, body := e.do(t, "GET", "/v2/shop/app/manifests/v1", e.alice, nil, nil); code != http.StatusNotFound || errorCode(t, body) != "MANIFEST_UNKNOWN" {
		t.Fatalf("deleted tag = %d %s", code, body)
	}
	res, err = e.Server.Registry().CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blobs) != 2 { // the layer (also linked into shop/copy) and the config
		t.Fatalf("second collection took %v, want the layer and the config", res.Blobs)
	}
}

// TestDeletingImageDeletesRepository: deleting the Image object, or the
// project, empties the repository; GC then takes its blobs.
func TestDeletingImageDeletesRepository(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	layer := e.pushBlob(t, e.alice, "shop/gone", []byte("layer of gone"))
	config := e.pushBlob(t, e.alice, "shop/gone", []byte("{}"))
	if code, body, _ := e.pushManifest(t, e.alice, "shop/gone", "latest", config, layer); code != http.StatusCreated {
		t.Fatalf("push manifest = %d %s", code, body)
	}
	bobLayer := e.pushBlob(t, e.bob, "other/app", []byte("layer of bob"))
	if code, body, _ := e.pushManifest(t, e.bob, "other/app", "v1", e.pushBlob(t, e.bob, "other/app", []byte("{}")), bobLayer); code != http.StatusCreated {
		t.Fatalf("push bob's manifest = %d %s", code, body)
	}
	var img api.Image
	if err := e.Client(t, e.alice).Get(ctx, lookup(api.ImagesResource), "shop", "gone", &img); err != nil {
		t.Fatal(err)
	}
	if len(img.Metadata.Finalizers) != 1 || img.Metadata.Finalizers[0] != api.ImageRepositoryFinalizer {
		t.Fatalf("finalizers %v", img.Metadata.Finalizers)
	}
	if err := e.Client(t, e.alice).Delete(ctx, lookup(api.ImagesResource), "shop", "gone", nil); err != nil {
		t.Fatal(err)
	}
	// The project goes too, with its image.
	if err := e.Client(t, e.bob).Delete(ctx, lookup(api.ProjectsResource), "", "other", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() error {
		code, body := e.do(t, "GET", "/v2/shop/gone/tags/list", e.alice, nil, nil)
		if code != http.StatusNotFound {
			return fmt.Errorf("tags of the deleted image: %d %s", code, body)
		}
		return nil
	})
	waitFor(t, func() error {
		err := e.Admin.Get(ctx, lookup(api.ProjectsResource), "", "other", nil)
		if err == nil {
			return fmt.Errorf("project other still there")
		}
		return nil
	})
	if code, _ := e.do(t, "HEAD", "/v2/shop/gone/blobs/"+layer, e.alice, nil, nil); code != http.StatusNotFound {
		t.Fatalf("blob of the deleted repository HEAD = %d", code)
	}
	res, err := e.Server.Registry().CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for _, d := range res.Blobs {
		gone[d] = true
	}
	if !gone[layer] || !gone[config] || !gone[bobLayer] {
		t.Fatalf("GC after the deletes took %v, want %s, %s and %s", res.Blobs, layer, config, bobLayer)
	}
}
