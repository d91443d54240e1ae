package ovnstack_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
	"github.com/slipway/slipway/server/pki"
)

// TestSouthboundOverSSL: the Southbound database served over SSL takes a
// chassis whose certificate the cluster CA signed (ovn-controller
// registers through it) and refuses a plain TCP client and one without a
// certificate. The central and the chassis share a network namespace, as
// on one machine, and its loopback carries the SSL.
func TestSouthboundOverSSL(t *testing.T) {
	requirePeers(t)
	suffix := uniqueSuffix(t)
	dir := shortTempDir(t, "ovnssl")
	ns := "slw-" + suffix + "-ssl"
	addNetNS(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// The cluster CA's serving certificate for the listener, and a client
	// certificate for the chassis.
	files, err := pki.Ensure(filepath.Join(dir, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authority, err := files.LoadAuthority()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := authority.ClientCertificate("chassis-"+suffix, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	chassisTLS, err := ovnstack.WriteTLSFiles(filepath.Join(dir, "chassis-tls"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), caPEM)
	if err != nil {
		t.Fatal(err)
	}

	central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central"), NetNS: ns,
		SouthboundTCP: "127.0.0.1:6642", TLS: &ovnstack.TLSFiles{PrivateKey: files.Key, Certificate: files.Cert, CACert: files.CACert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = central.Stop(context.Background()) })
	remote := central.SouthboundTCPEndpoint()
	if remote != "ssl:127.0.0.1:6642" {
		t.Fatalf("SouthboundTCPEndpoint = %q", remote)
	}
	// StartChassis returns once the Chassis row exists: ovn-controller
	// registered over SSL, and Slipway's client saw it over SSL too.
	err = inNetNS(ns, func() error {
		ch, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"),
			SystemID: "chassis-" + suffix, SouthboundRemote: remote, TLS: chassisTLS, NetNS: ns})
		if err == nil {
			t.Cleanup(func() { _ = ch.Stop(context.Background()) })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	chassisRows := func(endpoint string, tlsConfig *tls.Config) (int, error) {
		var n int
		err := inNetNS(ns, func() error {
			callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			c, err := ovsdb.Dial(callCtx, endpoint, ovsdb.Options{NoReconnect: true, TLS: tlsConfig})
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := c.Transact(callCtx, ovnstack.SouthboundDB, ovsdb.Select("Chassis", []ovsdb.Condition{ovsdb.Equal("name", "chassis-"+suffix)}))
			if err == nil {
				n = len(r[0].Rows)
			}
			return err
		})
		return n, err
	}
	clientTLS, err := chassisTLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := chassisRows(remote, clientTLS); err != nil || n != 1 {
		t.Fatalf("the chassis' own certificate: %d Chassis rows, %v", n, err)
	}
	refused := func(what, endpoint string, tlsConfig *tls.Config) {
		t.Helper()
		if _, err := chassisRows(endpoint, tlsConfig); err == nil {
			t.Errorf("%s read the Southbound database", what)
		}
	}
	refused("a plain TCP client", "tcp:127.0.0.1:6642", nil)
	anonymous := clientTLS.Clone()
	anonymous.Certificates = nil
	refused("an SSL client without a certificate", remote, anonymous)
	untrusted, err := pki.Ensure(filepath.Join(dir, "other-pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tls.LoadX509KeyPair(untrusted.Cert, untrusted.Key)
	if err != nil {
		t.Fatal(err)
	}
	foreign := clientTLS.Clone()
	foreign.Certificates = []tls.Certificate{stranger}
	refused("an SSL client with another CA's certificate", remote, foreign)
}
