package haproxycfg

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// view is the data of the configuration template.
type view struct {
	MaxConn, Threads int
	BusyPolling      bool
	HardStopAfter    string
	RuntimeSocket    string
	TLSSocket        string
	HTTPBind         string
	HTTPSBind        string
	HTTPMap          string
	HTTPSMap         string
	SNIMap           string
	CertList         string
	DefaultCert      string
	ErrorPage        string
	MetricsBind      string
	StatsUser        string
	StatsPassword    string
	Backends         []backendData
}

// templateData adds the backend sections, written by writeBackends: a
// template walking thousands of server lines by reflection costs ten times
// more than this.
type templateData struct {
	view
	BackendSections string
}

type backendData struct {
	Name, Mode, Balance string
	Timeout             string
	Allow               string // space-separated networks; "" admits all
	RateLimit           int    // requests per 10 s per client IP; 0 is none
	HSTS                string
	Cookie              string
	CookieSecure        bool
	ServerOptions       string
	Slots               []Slot
}

func (o *Options) view() view {
	v := view{
		MaxConn:       o.MaxConn,
		Threads:       o.Threads,
		BusyPolling:   o.BusyPolling,
		HardStopAfter: durationMillis(o.HardStopAfter),
		RuntimeSocket: o.RuntimeSocket,
		TLSSocket:     o.TLSSocket,
		HTTPBind:      net.JoinHostPort(o.BindAddress, strconv.Itoa(o.HTTPPort)),
		HTTPSBind:     net.JoinHostPort(o.BindAddress, strconv.Itoa(o.HTTPSPort)),
		HTTPMap:       filepath.Join(o.ConfDir, HTTPMapFile),
		HTTPSMap:      filepath.Join(o.ConfDir, HTTPSMapFile),
		SNIMap:        filepath.Join(o.ConfDir, SNIMapFile),
		CertList:      filepath.Join(o.ConfDir, CertListFile),
		DefaultCert:   filepath.Join(o.ConfDir, DefaultCertFile),
		ErrorPage:     filepath.Join(o.ConfDir, ErrorPageFile),
		MetricsBind:   o.MetricsBind,
		StatsUser:     o.StatsUser,
		StatsPassword: o.StatsPassword,
	}
	if v.MaxConn == 0 {
		v.MaxConn = 8000
	}
	if v.Threads == 0 {
		v.Threads = 2
	}
	if o.HardStopAfter == 0 {
		v.HardStopAfter = "30s"
	}
	return v
}

// unusedAddr fills a slot without an endpoint; the server is disabled, so
// nothing connects to it.
const unusedAddr = "127.0.0.1:1"

var configTemplate = template.Must(template.New(ConfigFile).Parse(`# Rendered by Slipway's router; it rewrites this file on every change.
global
    maxconn {{.MaxConn}}
    nbthread {{.Threads}}
{{- if .BusyPolling}}
    busy-polling
{{- end}}
    stats socket {{.RuntimeSocket}} mode 600 level admin expose-fd listeners
    stats timeout 2m
    # A new worker takes its listeners from the old one (expose-fd), so
    # SO_REUSEPORT is not needed; with it a second HAProxy binding the same
    # port would silently share its connections instead of failing.
    noreuseport
    hard-stop-after {{.HardStopAfter}}
    # Each server with health checks counts a descriptor towards the limit
    # HAProxy asks for: with thousands of routes that can exceed what the
    # machine allows, which must not fail a reload (checks use a descriptor
    # only while they run).
    no strict-limits
    ssl-default-bind-options ssl-min-ver TLSv1.2
    tune.ssl.default-dh-param 2048

defaults
    mode http
    # Pods sit on the cluster network a millisecond away: a connection not
    # made within a second goes to a pod that is gone (a node lost before
    # it is NotReady), and the request is tried on another one (retries).
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 5s
    timeout tunnel 1h
    # A pod that stops between the router's last update and a request
    # (a rollout's old pod, a crash) must not cost the client an error:
    # a failed connection, or a connection closed without an answer, is
    # tried again on another server. Only requests safe to replay are
    # (disable-l7-retry in the frontends).
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    # Health: a server whose connection fails under traffic is marked down
    # at once (a pod on a lost node, before the node is NotReady), and
    # comes back when a TCP connect succeeds again (checked every second
    # while down, every 5 s while up; plain TCP even for re-encrypted
    # routes, so that a check never depends on SNI or certificates).
    default-server check no-check-ssl inter 5s downinter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down
    timeout check 1s
    errorfile 503 {{.ErrorPage}}

frontend fe_http
    bind {{.HTTPBind}}
    # Without it an old worker closes idle keep-alive connections on reload
    # and clients see errors.
    option idle-close-on-response
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request disable-l7-retry if ! { method GET HEAD OPTIONS }
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
    http-request set-var(txn.path) path
    http-request set-var(txn.route) var(txn.host),concat(,txn.path,)
    use_backend %[var(txn.route),map_beg({{.HTTPMap}},be_default)]
    default_backend be_default

frontend fe_tls
    mode tcp
    bind {{.HTTPSBind}}
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend %[req.ssl_sni,lower,map({{.SNIMap}},be_tls_terminate)]
    default_backend be_tls_terminate

backend be_tls_terminate
    mode tcp
    server fe_https unix@{{.TLSSocket}} send-proxy-v2 no-check

frontend fe_https
    bind unix@{{.TLSSocket}} accept-proxy ssl crt {{.DefaultCert}} crt-list {{.CertList}} alpn h2,http/1.1
    # Without it an old worker closes idle keep-alive connections on reload
    # and clients see errors.
    option idle-close-on-response
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request disable-l7-retry if ! { method GET HEAD OPTIONS }
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
    http-request set-var(txn.path) path
    http-request set-var(txn.route) var(txn.host),concat(,txn.path,)
    use_backend %[var(txn.route),map_beg({{.HTTPSMap}},be_default)]
    default_backend be_default

{{if .MetricsBind}}userlist stats_users
    user {{.StatsUser}} insecure-password {{.StatsPassword}}

frontend fe_metrics
    bind {{.MetricsBind}}
    http-request auth realm slipway-router unless { http_auth(stats_users) }
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    stats refresh 10s

{{end}}# No servers: every request gets the "Application is not available" page.
backend be_default

backend be_redirect_https
    http-request redirect scheme https code 302
{{.BackendSections}}`))

// writeBackends writes one section per route backend. With skeleton it
// leaves out what the runtime API changes (addresses, weights, states), for
// Result.Structure.
func writeBackends(buf *strings.Builder, backends []backendData, skeleton bool) {
	for _, b := range backends {
		buf.WriteString("\nbackend " + b.Name + "\n    mode " + b.Mode + "\n    balance " + b.Balance + "\n")
		if b.Timeout != "" {
			buf.WriteString("    timeout server " + b.Timeout + "\n    timeout tunnel " + b.Timeout + "\n")
		}
		if b.Allow != "" && b.Mode == "tcp" {
			buf.WriteString("    tcp-request content reject if !{ src " + b.Allow + " }\n")
		} else if b.Allow != "" {
			buf.WriteString("    http-request deny deny_status 403 if !{ src " + b.Allow + " }\n")
		}
		if b.RateLimit > 0 {
			buf.WriteString("    stick-table type ip size 100k expire 30s store http_req_rate(10s)\n" +
				"    http-request track-sc0 src\n" +
				"    http-request deny deny_status 429 if { sc_http_req_rate(0) gt " + strconv.Itoa(b.RateLimit) + " }\n")
		}
		if b.HSTS != "" {
			buf.WriteString("    http-response set-header Strict-Transport-Security \"" + b.HSTS + "\" if { ssl_fc }\n")
		}
		if b.Cookie != "" {
			buf.WriteString("    cookie " + b.Cookie + " insert indirect nocache httponly")
			if b.CookieSecure {
				buf.WriteString(" secure")
			}
			buf.WriteString("\n")
		}
		if b.ServerOptions != "" {
			buf.WriteString("    default-server " + b.ServerOptions + "\n")
		}
		for _, s := range b.Slots {
			buf.WriteString("    server " + s.Name)
			if skeleton {
				buf.WriteString("\n")
				continue
			}
			if s.InUse() {
				buf.WriteString(" " + s.Addr.String())
			} else {
				buf.WriteString(" " + unusedAddr)
			}
			buf.WriteString(" weight " + strconv.Itoa(s.Weight))
			if !s.InUse() {
				buf.WriteString(" disabled")
			}
			if b.Cookie != "" {
				buf.WriteString(" cookie " + s.Name)
			}
			buf.WriteString("\n")
		}
	}
}
