package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Certificates for www.example.com: valid now, expired, and another key.
var (
	testCertPEM, testKeyPEM       = testCertificate("www.example.com", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expiredCertPEM, expiredKeyPEM = testCertificate("www.example.com", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	_, otherKeyPEM                = testCertificate("www.example.com", time.Now(), time.Now().Add(time.Hour))
)

func testCertificate(host string, notBefore, notAfter time.Time) (certPEM, keyPEM string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func TestRouteValidation(t *testing.T) {
	routes, ok := NewCatalogue().Lookup(RoutesResource)
	if !ok || routes.Kind != "Route" || routes.Scope != ProjectScoped || !routes.HasStatus {
		t.Fatalf("routes resource = %+v", routes)
	}
	pemJSON := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		name        string
		annotations map[string]string
		spec        string
		wantErr     error
		wantField   string
	}{
		{"minimal", nil, `{"to":{"name":"web"}}`, nil, ""},
		{"full", map[string]string{RouteBalanceAnnotation: "leastconn", RouteStickyAnnotation: "true", RouteTimeoutAnnotation: "90s", RouteHSTSAnnotation: "max-age=31536000"},
			`{"host":"www.example.com","path":"/api","to":{"kind":"Service","name":"web","weight":80},"alternateBackends":[{"kind":"Service","name":"canary","weight":20}],` +
				`"port":{"targetPort":"http"},"tls":{"termination":"edge","certificate":` + pemJSON(testCertPEM) + `,"key":` + pemJSON(testKeyPEM) + `,"insecureEdgeTerminationPolicy":"Redirect"}}`, nil, ""},
		{"certificate for another host", nil, `{"host":"shop.example.org","to":{"name":"web"},"tls":{"termination":"edge","certificate":` + pemJSON(testCertPEM) + `,"key":` + pemJSON(testKeyPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.certificate"},
		{"expired certificate", nil, `{"host":"www.example.com","to":{"name":"web"},"tls":{"termination":"edge","certificate":` + pemJSON(expiredCertPEM) + `,"key":` + pemJSON(expiredKeyPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.certificate"},
		{"key of another certificate", nil, `{"host":"www.example.com","to":{"name":"web"},"tls":{"termination":"edge","certificate":` + pemJSON(testCertPEM) + `,"key":` + pemJSON(otherKeyPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.key"},
		{"numeric port", nil, `{"to":{"name":"web"},"port":{"targetPort":8080}}`, nil, ""},
		{"passthrough", nil, `{"host":"pt.example.com","to":{"name":"web"},"tls":{"termination":"passthrough"}}`, nil, ""},
		{"reencrypt with destination CA", nil, `{"to":{"name":"web"},"tls":{"termination":"reencrypt","destinationCACertificate":` + pemJSON(testCertPEM) + `}}`, nil, ""},
		{"no spec", nil, ``, errdefs.ErrInvalid, "spec"},
		{"unknown field", nil, `{"to":{"name":"web"},"hostname":"x"}`, errdefs.ErrBadRequest, "spec.hostname"},
		{"upper-case host", nil, `{"host":"WWW.example.com","to":{"name":"web"}}`, errdefs.ErrInvalid, "spec.host"},
		{"host with underscore", nil, `{"host":"a_b.example.com","to":{"name":"web"}}`, errdefs.ErrInvalid, "spec.host"},
		{"relative path", nil, `{"path":"api","to":{"name":"web"}}`, errdefs.ErrInvalid, "spec.path"},
		{"path with space", nil, `{"path":"/a b","to":{"name":"web"}}`, errdefs.ErrInvalid, "spec.path"},
		{"no service", nil, `{"to":{}}`, errdefs.ErrInvalid, "spec.to.name"},
		{"not a service", nil, `{"to":{"kind":"Pod","name":"web"}}`, errdefs.ErrInvalid, "spec.to.kind"},
		{"weight too large", nil, `{"to":{"name":"web","weight":257}}`, errdefs.ErrInvalid, "spec.to.weight"},
		{"negative weight", nil, `{"to":{"name":"web"},"alternateBackends":[{"name":"b","weight":-1}]}`, errdefs.ErrInvalid, "spec.alternateBackends[0].weight"},
		{"backend twice", nil, `{"to":{"name":"web"},"alternateBackends":[{"name":"web"}]}`, errdefs.ErrInvalid, "spec.alternateBackends[0].name"},
		{"port zero", nil, `{"to":{"name":"web"},"port":{"targetPort":0}}`, errdefs.ErrInvalid, "spec.port.targetPort"},
		{"termination missing", nil, `{"to":{"name":"web"},"tls":{}}`, errdefs.ErrInvalid, "spec.tls.termination"},
		{"termination unknown", nil, `{"to":{"name":"web"},"tls":{"termination":"Edge"}}`, errdefs.ErrInvalid, "spec.tls.termination"},
		{"insecure policy unknown", nil, `{"to":{"name":"web"},"tls":{"termination":"edge","insecureEdgeTerminationPolicy":"Always"}}`, errdefs.ErrInvalid, "spec.tls.insecureEdgeTerminationPolicy"},
		{"passthrough allow", nil, `{"to":{"name":"web"},"tls":{"termination":"passthrough","insecureEdgeTerminationPolicy":"Allow"}}`, errdefs.ErrInvalid, "spec.tls.insecureEdgeTerminationPolicy"},
		{"passthrough path", nil, `{"path":"/x","to":{"name":"web"},"tls":{"termination":"passthrough"}}`, errdefs.ErrInvalid, "spec.path"},
		{"certificate without key", nil, `{"to":{"name":"web"},"tls":{"termination":"edge","certificate":` + pemJSON(testCertPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.key"},
		{"certificate not PEM", nil, `{"to":{"name":"web"},"tls":{"termination":"edge","certificate":"hello","key":` + pemJSON(testKeyPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.certificate"},
		{"key is a certificate", nil, `{"to":{"name":"web"},"tls":{"termination":"edge","certificate":` + pemJSON(testCertPEM) + `,"key":` + pemJSON(testCertPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.key"},
		{"destination CA on edge", nil, `{"to":{"name":"web"},"tls":{"termination":"edge","destinationCACertificate":` + pemJSON(testCertPEM) + `}}`, errdefs.ErrInvalid, "spec.tls.destinationCACertificate"},
		{"balance unknown", map[string]string{RouteBalanceAnnotation: "random"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/balance]"},
		{"sticky not boolean", map[string]string{RouteStickyAnnotation: "yes"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/sticky]"},
		{"timeout too long", map[string]string{RouteTimeoutAnnotation: "48h"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/timeout]"},
		{"allow-list and rate limit", map[string]string{RouteAllowlistAnnotation: "10.0.0.0/8, 192.0.2.7 2001:db8::/32", RouteRateLimitAnnotation: "50"}, `{"to":{"name":"web"}}`, nil, ""},
		{"allow-list not an address", map[string]string{RouteAllowlistAnnotation: "10.0.0.0/8 example.com"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/ip-allowlist]"},
		{"allow-list empty", map[string]string{RouteAllowlistAnnotation: " , "}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/ip-allowlist]"},
		{"rate limit zero", map[string]string{RouteRateLimitAnnotation: "0"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/rate-limit-rps]"},
		{"rate limit not a number", map[string]string{RouteRateLimitAnnotation: "fast"}, `{"to":{"name":"web"}}`, errdefs.ErrInvalid, "metadata.annotations[router.slipway.io/rate-limit-rps]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := routes.Validate(&Object{Metadata: ObjectMeta{Name: "r", Annotations: tc.annotations}, Spec: json.RawMessage(tc.spec)})
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("Validate = %v, want %v", err, tc.wantErr)
			}
			var fe *errdefs.FieldError
			if tc.wantErr != nil && (!errors.As(err, &fe) || fe.Field != tc.wantField) {
				t.Errorf("Validate = %v, want field %q", err, tc.wantField)
			}
		})
	}
}

func TestRouteStatusValidation(t *testing.T) {
	routes, _ := NewCatalogue().Lookup(RoutesResource)
	tests := []struct {
		name, status string
		wantErr      error
		wantField    string
	}{
		{"admitted", `{"ingress":[{"routerName":"default","host":"web-shop.apps.localhost","conditions":[{"type":"Admitted","status":"True"}]}]}`, nil, ""},
		{"no router name", `{"ingress":[{"host":"a.b"}]}`, errdefs.ErrInvalid, "status.ingress[0].routerName"},
		{"bad condition status", `{"ingress":[{"routerName":"default","conditions":[{"type":"Admitted","status":"yes"}]}]}`, errdefs.ErrInvalid, "status.ingress[0].conditions[0].status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := routes.ValidateStatus(&Object{Status: json.RawMessage(tc.status)})
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("ValidateStatus = %v, want %v", err, tc.wantErr)
			}
			var fe *errdefs.FieldError
			if tc.wantErr != nil && (!errors.As(err, &fe) || fe.Field != tc.wantField) {
				t.Errorf("ValidateStatus = %v, want field %q", err, tc.wantField)
			}
		})
	}
}

func TestParseRouteTimeout(t *testing.T) {
	for in, want := range map[string]string{"30": "30s", "2m": "2m0s", "1h30m": "1h30m0s"} {
		if d, err := ParseRouteTimeout(in); err != nil || d.String() != want {
			t.Errorf("ParseRouteTimeout(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1s", "25h", "soon"} {
		if _, err := ParseRouteTimeout(in); err == nil {
			t.Errorf("ParseRouteTimeout(%q) accepted", in)
		}
	}
}
