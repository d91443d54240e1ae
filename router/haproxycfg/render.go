// Package haproxycfg renders the router's HAProxy configuration: from the
// admitted routes it produces haproxy.cfg, the map files that choose a
// backend by host and path (HTTP, HTTPS) or by SNI (passthrough), the
// certificate files and crt-list, and the table of pre-allocated server
// slots that lets endpoint changes go through the runtime API. Output is
// deterministic: the same routes, options and previous slots give the same
// bytes.
package haproxycfg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/router/route"
)

// File names inside Options.ConfDir.
const (
	ConfigFile      = "haproxy.cfg"
	HTTPMapFile     = "http.map"
	HTTPSMapFile    = "https.map"
	SNIMapFile      = "passthrough.map"
	CertListFile    = "certs.list"
	DefaultCertFile = "default.pem"
	ErrorPageFile   = "error-503.http"
	certDir         = "certs"
)

// Backend names that are not routes.
const (
	DefaultBackend  = "be_default"
	RedirectBackend = "be_redirect_https"
	tlsBackend      = "be_tls_terminate"
)

// Options are the parts of the configuration that do not come from routes.
type Options struct {
	// ConfDir is the absolute directory the files will be written to; the
	// configuration names its map and certificate files by absolute path.
	ConfDir string
	// RuntimeSocket is the absolute path of the admin-level stats socket.
	RuntimeSocket string
	// TLSSocket is the absolute path of the internal unix socket between the
	// SNI frontend and the TLS-terminating frontend.
	TLSSocket string
	// BindAddress is the listening address ("" listens on all addresses).
	BindAddress         string
	HTTPPort, HTTPSPort int
	// DefaultCertificate (PEM certificate, chain and key) serves TLS hosts
	// without a certificate of their own.
	DefaultCertificate string
	// MetricsBind ("host:port", "" for none) serves HAProxy's Prometheus
	// exporter at /metrics (per-route request, error and latency figures:
	// one backend per route) and the stats page at /stats, both behind
	// basic authentication as StatsUser/StatsPassword.
	MetricsBind              string
	StatsUser, StatsPassword string
	// MaxConn defaults to 8000 (20000 exceeds a 20000 FD limit: HAProxy
	// needs two descriptors per connection).
	MaxConn int
	// Threads defaults to 2.
	Threads int
	// BusyPolling keeps HAProxy's threads polling instead of sleeping, for
	// a router with CPUs of its own: in a virtual machine a sleeping CPU is
	// woken by an inter-processor interrupt for every packet, which costs
	// both sides more than the polling (HAProxy's busy-polling).
	BusyPolling bool
	// HardStopAfter bounds how long an old worker keeps serving its
	// connections after a reload; defaults to 30 s.
	HardStopAfter time.Duration
	// Previous is the slot table of the configuration in force, so that
	// endpoints keep their slots; nil for a first render.
	Previous Table
}

// Result is a rendered configuration.
type Result struct {
	// Files maps names relative to ConfDir (ConfigFile, map files,
	// "certs/<project>_<route>.pem", …) to their content.
	Files map[string][]byte
	// Slots is the slot table the files describe.
	Slots Table
	// Structure digests everything but slot contents (addresses, weights,
	// in use or not): two results with the same Structure differ only in
	// what the runtime API can change without a reload.
	Structure string
	// Admitted are the routes served, sorted by project and name.
	Admitted []route.Route
	// Rejected are the routes left out and why.
	Rejected []route.Rejection
}

// Render admits routes (see route.Admit) and renders the configuration
// serving them.
func Render(routes []route.Route, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("render haproxy configuration: %w", err)
	}
	admitted, rejected := route.Admit(routes)
	res := &Result{Files: map[string][]byte{}, Slots: Table{}, Admitted: admitted, Rejected: rejected}
	v := opts.view()
	var httpMap, httpsMap, sniMap []mapEntry
	var certList []string
	for i := range admitted {
		r := &admitted[i]
		be := backendName(r)
		slots := assignSlots(r, opts.Previous[be])
		res.Slots[be] = slots
		bv, certs := backendView(r, be, slots, opts.ConfDir)
		v.Backends = append(v.Backends, bv)
		for name, content := range certs {
			res.Files[name] = content
		}
		key := r.Host + r.Path
		if r.Path == "" {
			key = r.Host + "/"
		}
		switch r.Termination() {
		case route.TerminationPassthrough:
			sniMap = append(sniMap, mapEntry{r.Host, be})
		case route.TerminationEdge, route.TerminationReencrypt:
			httpsMap = append(httpsMap, mapEntry{key, be})
			if r.TLS.Certificate != "" {
				certList = append(certList, filepath.Join(opts.ConfDir, certFile(r))+" "+r.Host)
			}
		}
		switch r.InsecurePolicy() {
		case route.InsecureAllow:
			httpMap = append(httpMap, mapEntry{key, be})
		case route.InsecureRedirect:
			httpMap = append(httpMap, mapEntry{key, RedirectBackend})
		}
	}
	res.Files[HTTPMapFile] = renderMap(httpMap)
	res.Files[HTTPSMapFile] = renderMap(httpsMap)
	res.Files[SNIMapFile] = renderMap(sniMap)
	slices.Sort(certList)
	res.Files[CertListFile] = []byte(joinLines(certList))
	res.Files[DefaultCertFile] = []byte(ensureNewline(opts.DefaultCertificate))
	res.Files[ErrorPageFile] = errorPage()

	var sections, skeleton strings.Builder
	writeBackends(&sections, v.Backends, false)
	writeBackends(&skeleton, v.Backends, true)
	var cfg bytes.Buffer
	if err := configTemplate.Execute(&cfg, templateData{view: v, BackendSections: sections.String()}); err != nil {
		return nil, fmt.Errorf("render haproxy configuration: %w", err)
	}
	res.Files[ConfigFile] = cfg.Bytes()
	// The head of the configuration is part of the structure too: hash it
	// with the skeleton of the backends.
	head := cfg.Bytes()[:cfg.Len()-sections.Len()]
	res.Structure = structureDigest(res.Files, append(slices.Clip(head), skeleton.String()...))
	return res, nil
}

func (o *Options) check() error {
	var errs []error
	for _, p := range []struct{ name, path string }{
		{"ConfDir", o.ConfDir}, {"RuntimeSocket", o.RuntimeSocket}, {"TLSSocket", o.TLSSocket},
	} {
		if !filepath.IsAbs(p.path) {
			errs = append(errs, fmt.Errorf("%s %q is not an absolute path", p.name, p.path))
		}
		if strings.ContainsAny(p.path, " \t\n\"'#\\") {
			errs = append(errs, fmt.Errorf("%s %q holds characters HAProxy would split on", p.name, p.path))
		}
	}
	for _, p := range []int{o.HTTPPort, o.HTTPSPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %d outside 1..65535", p))
		}
	}
	if o.BindAddress != "" && net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("bind address %q is not an IP address", o.BindAddress))
	}
	if o.MetricsBind != "" {
		if _, port, err := net.SplitHostPort(o.MetricsBind); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("metrics bind %q is not host:port", o.MetricsBind))
		}
		for _, f := range []struct{ name, v string }{{"stats user", o.StatsUser}, {"stats password", o.StatsPassword}} {
			if name, v := f.name, f.v; v == "" || strings.ContainsAny(v, " \t\n\"'#\\") {
				errs = append(errs, fmt.Errorf("%s must be set, without spaces, quotes, '#' or '\\'", name))
			}
		}
	}
	if !strings.Contains(o.DefaultCertificate, "PRIVATE KEY") || !strings.Contains(o.DefaultCertificate, "CERTIFICATE") {
		errs = append(errs, errors.New("default certificate needs a PEM certificate and private key"))
	}
	return errors.Join(errs...)
}

// backendName is "be_<kind>_<project>_<name>": projects and names are DNS
// labels, so underscores keep it unique.
func backendName(r *route.Route) string {
	kind := "http"
	switch r.Termination() {
	case route.TerminationPassthrough:
		kind = "tcp"
	case route.TerminationReencrypt:
		kind = "secure"
	}
	return "be_" + kind + "_" + r.Project + "_" + r.Name
}

func certFile(r *route.Route) string {
	return filepath.Join(certDir, r.Project+"_"+r.Name+".pem")
}

func destinationCAFile(r *route.Route) string {
	return filepath.Join(certDir, r.Project+"_"+r.Name+".destca.pem")
}

// cookieName is stable per route and reveals neither project nor name.
func cookieName(r *route.Route) string {
	h := fnv.New64a()
	h.Write([]byte(r.Key()))
	return "slipway_" + strconv.FormatUint(h.Sum64(), 16)
}

func backendView(r *route.Route, name string, slots []Slot, confDir string) (backendData, map[string][]byte) {
	files := map[string][]byte{}
	b := backendData{Name: name, Mode: "http", Balance: string(r.EffectiveBalance()), HSTS: r.HSTS}
	if b.Balance == string(route.BalanceSource) {
		// Consistent hashing keeps "source" dynamic: runtime weight and
		// address changes apply without a reload.
		b.Balance += "\n    hash-type consistent"
	}
	if r.Timeout > 0 {
		b.Timeout = durationMillis(r.Timeout)
	}
	switch r.Termination() {
	case route.TerminationPassthrough:
		b.Mode = "tcp"
	case route.TerminationReencrypt:
		b.ServerOptions = "ssl verify none"
		if ca := r.TLS.DestinationCACertificate; ca != "" {
			f := destinationCAFile(r)
			files[f] = []byte(ensureNewline(ca))
			b.ServerOptions = "ssl verify required ca-file " + filepath.Join(confDir, f) + " sni req.hdr(host),field(1,:)"
		}
	}
	if r.TLS != nil && r.TLS.Certificate != "" {
		files[certFile(r)] = []byte(ensureNewline(r.TLS.Certificate) + ensureNewline(r.TLS.Key) + ensureNewline(r.TLS.CACertificate))
	}
	var allow []string
	for _, p := range r.AllowedSources {
		allow = append(allow, p.String())
	}
	b.Allow = strings.Join(allow, " ")
	if r.RateLimit > 0 && b.Mode == "http" {
		b.RateLimit = 10 * r.RateLimit
	}
	if r.Sticky && b.Mode == "http" {
		b.Cookie = cookieName(r)
		if r.Termination() != "" && r.InsecurePolicy() != route.InsecureAllow {
			b.CookieSecure = true
		}
	}
	b.Slots = slots
	return b, files
}

type mapEntry struct{ key, backend string }

// renderMap sorts longest keys first (HAProxy's prefix tree already picks the
// longest match; the order only makes the file read that way) then by key.
func renderMap(entries []mapEntry) []byte {
	slices.SortFunc(entries, func(a, b mapEntry) int {
		if len(a.key) != len(b.key) {
			return len(b.key) - len(a.key)
		}
		return strings.Compare(a.key, b.key)
	})
	var buf bytes.Buffer
	for _, e := range entries {
		buf.WriteString(e.key + " " + e.backend + "\n")
	}
	return buf.Bytes()
}

func structureDigest(files map[string][]byte, skeleton []byte) string {
	h := sha256.New()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		content := files[name]
		if name == ConfigFile {
			content = skeleton
		}
		fmt.Fprintf(h, "%s %d\n", name, len(content))
		h.Write(content)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func durationMillis(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func ensureNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// NotAvailableTitle is the heading of the page served when no route or no
// endpoint matches, so clients and tests can recognise it.
const NotAvailableTitle = "Application is not available"

func errorPage() []byte {
	body := `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>` + NotAvailableTitle + `</title></head>
<body><h1>` + NotAvailableTitle + `</h1>
<p>The application is currently not serving requests at this address. It may not have been started, may be starting, or no route matches this host and path.</p>
</body></html>
`
	head := "HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"Cache-Control: no-store\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"\r\n"
	return []byte(head + body)
}
