package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerateWritesVerifiableCerts(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, []string{"n1", "n2"}, []string{"db1.example", "10.0.0.7"}); err != nil {
		t.Fatal(err)
	}
	pool, err := CertPool(filepath.Join(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2"} {
		cert, err := readCert(filepath.Join(dir, id+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{id, "db1.example", "10.0.0.7", "localhost", "127.0.0.1"} {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("%s for %s (usage %v): %v", id, host, usage, err)
				}
			}
		}
		if st, err := os.Stat(filepath.Join(dir, id+".key")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s.key mode %v, %v; want 0600", id, st.Mode(), err)
		}
	}
	// A second run reuses the CA: the first node's certificate still
	// verifies against ca.crt.
	if err := Generate(dir, []string{"n3"}, nil); err != nil {
		t.Fatal(err)
	}
	pool2, _ := CertPool(filepath.Join(dir, CACert))
	cert, _ := readCert(filepath.Join(dir, "n1.crt"))
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "n1", Roots: pool2}); err != nil {
		t.Fatalf("the CA was replaced: %v", err)
	}
}

// TestMutualTLS: peers with certificates of the cluster's CA talk; a
// client with no certificate, or one from another CA, is refused.
func TestMutualTLS(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := Generate(dir, []string{"n1", "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Generate(other, []string{"n2"}, nil); err != nil {
		t.Fatal(err)
	}
	f := func(d, name string) string { return filepath.Join(d, name) }
	srvCfg, _, err := MutualTLS(f(dir, "n1.crt"), f(dir, "n1.key"), f(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	_, goodClient, err := MutualTLS(f(dir, "n2.crt"), f(dir, "n2.key"), f(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	// A client that trusts the right CA but presents a foreign cert.
	_, foreign, err := MutualTLS(f(other, "n2.crt"), f(other, "n2.key"), f(dir, CACert))
	if err != nil {
		t.Fatal(err)
	}
	noCert := goodClient.Clone()
	noCert.Certificates = nil

	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("ok"))
				}
			}()
		}
	}()
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{{"cluster cert", goodClient, true}, {"no cert", noCert, false}, {"foreign cert", foreign, false}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.Clone()
			cfg.ServerName = "n1"
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err == nil {
				// TLS 1.3: the server's verdict on the client's
				// certificate arrives with the first read.
				var b []byte
				b, err = io.ReadAll(c)
				c.Close()
				if err == nil && string(b) != "ok" {
					err = net.ErrClosed
				}
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
