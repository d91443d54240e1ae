// Package client is the typed Go client of Slipway's API, used by the CLI,
// the agents and the tests. Errors returned by the server are
// *api.StatusError values that work with errors.Is against api/errdefs.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// Config says how to reach a server.
type Config struct {
	// Server is the API's base URL, e.g. https://localhost:8443.
	Server string
	// CAFile is a PEM file of the certificate authority to trust.
	CAFile string
	// InsecureSkipVerify disables certificate checks (not recommended).
	InsecureSkipVerify bool
	// Token is sent as a bearer token when set.
	Token string
	// HTTPClient replaces the default client (CAFile and Insecure are then
	// ignored).
	HTTPClient *http.Client
}

// Client talks to one server.
type Client struct {
	base  string
	http  *http.Client
	token string
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("server %q is not a URL like https://localhost:8443", cfg.Server)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tlsConfig := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the user's explicit choice
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read certificate authority: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", cfg.CAFile)
			}
			tlsConfig.RootCAs = pool
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConfig
		tr.MaxIdleConnsPerHost = 64
		tr.ForceAttemptHTTP2 = true
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: strings.TrimRight(cfg.Server, "/"), http: hc, token: cfg.Token}, nil
}

// Server is the API's base URL.
func (c *Client) Server() string { return c.base }

// Token is the token the client presents ("" for anonymous): agents reuse
// it as their registry credential.
func (c *Client) Token() string { return c.token }

// Path returns the URL path of a resource collection or object.
func Path(res *api.Resource, project, name string, subresource ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1/")
	if res.Scope == api.ProjectScoped && project != "" {
		b.WriteString("projects/" + url.PathEscape(project) + "/")
	}
	b.WriteString(res.Plural)
	if name != "" {
		b.WriteString("/" + url.PathEscape(name))
	}
	for _, s := range subresource {
		b.WriteString("/" + s)
	}
	return b.String()
}

// Do sends a request and decodes a successful JSON answer into out (when
// not nil). A Status answer becomes an *api.StatusError.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Stream sends a request whose body (when not nil) streams from body, and
// returns the answer's body for the caller to read and close: pod logs
// that follow, exec sessions.
func (c *Client) Stream(ctx context.Context, method, path, contentType string, body io.Reader) (io.ReadCloser, error) {
	resp, err := c.sendReader(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return c.sendReader(ctx, method, path, contentType, rd)
}

func (c *Client) sendReader(ctx context.Context, method, path, contentType string, rd io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", method, path, errdefs.ErrUnavailable, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

func statusError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st api.Status
	if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
		st = api.Status{Kind: "Status", Code: resp.StatusCode, Reason: http.StatusText(resp.StatusCode),
			Message: strings.TrimSpace(string(data))}
	}
	return &api.StatusError{Status: st}
}

func encode(in any) ([]byte, error) {
	if b, ok := in.([]byte); ok {
		return b, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

// Create posts a new object (in is any JSON-encodable object, or raw JSON
// bytes) and decodes the stored object into out.
func (c *Client) Create(ctx context.Context, res *api.Resource, project string, in, out any) error {
	body, err := encode(in)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPost, Path(res, project, ""), "application/json", body, out)
}

// Get fetches one object.
func (c *Client) Get(ctx context.Context, res *api.Resource, project, name string, out any) error {
	return c.Do(ctx, http.MethodGet, Path(res, project, name), "", nil, out)
}

// Update replaces an object (PUT); in must carry the resourceVersion it
// was read at.
func (c *Client) Update(ctx context.Context, res *api.Resource, project, name string, in, out any) error {
	body, err := encode(in)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, Path(res, project, name), "application/json", body, out)
}

// UpdateStatus replaces an object's status.
func (c *Client) UpdateStatus(ctx context.Context, res *api.Resource, project, name string, in, out any) error {
	body, err := encode(in)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, Path(res, project, name, "status"), "application/json", body, out)
}

// Patch applies a JSON merge patch (to the status subresource when status).
func (c *Client) Patch(ctx context.Context, res *api.Resource, project, name string, patch any, status bool, out any) error {
	body, err := encode(patch)
	if err != nil {
		return err
	}
	p := Path(res, project, name)
	if status {
		p = Path(res, project, name, "status")
	}
	return c.Do(ctx, http.MethodPatch, p, "application/merge-patch+json", body, out)
}

// Delete deletes an object, decoding the answer (the final object, or the
// object marked for deletion while finalizers run) into out.
func (c *Client) Delete(ctx context.Context, res *api.Resource, project, name string, out any) error {
	return c.Do(ctx, http.MethodDelete, Path(res, project, name), "", nil, out)
}

func listQuery(opts api.ListOptions) string {
	q := url.Values{}
	if opts.LabelSelector != "" {
		q.Set("labelSelector", opts.LabelSelector)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Continue != "" {
		q.Set("continue", opts.Continue)
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// List fetches one page of objects into out (an *api.List[T]). For a
// project-scoped resource, project "" lists across every project.
func (c *Client) List(ctx context.Context, res *api.Resource, project string, opts api.ListOptions, out any) error {
	return c.Do(ctx, http.MethodGet, Path(res, project, "")+listQuery(opts), "", nil, out)
}

// Event is one decoded watch event.
type Event struct {
	Type   api.EventType   `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Watcher reads a watch stream.
type Watcher struct {
	body    io.ReadCloser
	scanner *bufio.Scanner
}

// Watch opens a watch stream. opts.ResourceVersion "" first delivers the
// existing objects as ADDED events.
func (c *Client) Watch(ctx context.Context, res *api.Resource, project string, opts api.ListOptions) (*Watcher, error) {
	q := listQuery(opts)
	if q == "" {
		q = "?watch=true"
	} else {
		q += "&watch=true"
	}
	resp, err := c.send(ctx, http.MethodGet, Path(res, project, "")+q, "", nil)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &Watcher{body: resp.Body, scanner: sc}, nil
}

// Next returns the next event; io.EOF when the server ended the stream. An
// ERROR event (the watcher fell behind) is returned as its StatusError.
func (w *Watcher) Next() (Event, error) {
	if !w.scanner.Scan() {
		if err := w.scanner.Err(); err != nil {
			return Event{}, err
		}
		return Event{}, io.EOF
	}
	ev, err := decodeEvent(w.scanner.Bytes())
	if err != nil {
		return Event{}, err
	}
	if ev.Type == "ERROR" {
		var st api.Status
		_ = json.Unmarshal(ev.Object, &st)
		return ev, &api.StatusError{Status: st}
	}
	return ev, nil
}

// Close ends the stream.
func (w *Watcher) Close() error { return w.body.Close() }

// decodeEvent reads one event line. Slipway's server writes every line as
// {"type":"T","object":{…}}; that shape is sliced without parsing the
// object (watchers decode what they need of it), anything else is decoded
// in full.
func decodeEvent(line []byte) (Event, error) {
	const prefix = `{"type":"`
	if rest, ok := bytes.CutPrefix(line, []byte(prefix)); ok {
		if typ, obj, ok := bytes.Cut(rest, []byte(`","object":`)); ok && bytes.HasSuffix(obj, []byte("}")) &&
			len(typ) < 16 && bytes.IndexByte(typ, '"') < 0 {
			obj = obj[:len(obj)-1]
			return Event{Type: api.EventType(typ), Object: append(json.RawMessage(nil), obj...)}, nil
		}
	}
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, fmt.Errorf("decode watch event: %w", err)
	}
	return ev, nil
}
