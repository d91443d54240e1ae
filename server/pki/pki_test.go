package pki

import (
	"crypto/x509"
	"os"
	"testing"
	"time"
)

func TestEnsureCreatesKeepsAndRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	hosts := []string{"localhost", "127.0.0.1"}
	f, err := Ensure(dir, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(f.Cert)
	firstCA, _ := os.ReadFile(f.CACert)
	if st, _ := os.Stat(f.CAKey); st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, want 0600", st.Mode().Perm())
	}

	// Same names, far from expiry: nothing changes.
	if _, err := Ensure(dir, hosts, now); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(f.Cert); string(again) != string(first) {
		t.Fatal("certificate replaced without reason")
	}

	tests := []struct {
		name  string
		hosts []string
		now   time.Time
	}{
		{"new name", []string{"localhost", "127.0.0.1", "slipway.example"}, now},
		{"near expiry", hosts, now.AddDate(0, 11, 15)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(f.Cert)
			if _, err := Ensure(dir, tc.hosts, tc.now); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(f.Cert)
			if string(after) == string(before) {
				t.Fatal("certificate not renewed")
			}
			if ca, _ := os.ReadFile(f.CACert); string(ca) != string(firstCA) {
				t.Fatal("the CA changed: clients would stop trusting the server")
			}
			cert, _, err := loadPair(f.Cert, f.Key)
			if err != nil {
				t.Fatal(err)
			}
			ca, _, _ := loadPair(f.CACert, f.CAKey)
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			for _, h := range tc.hosts {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: tc.now}); err != nil {
					t.Fatalf("verify for %s: %v", h, err)
				}
			}
		})
	}
}
