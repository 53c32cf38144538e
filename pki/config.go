package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrNoCerts: a CA file holds no PEM certificate.
var ErrNoCerts = errors.New("no certificates")

// minVersion is the oldest TLS dobj speaks: 1.2 for older clients.
const minVersion = tls.VersionTLS12

// ServerConfig is the API's TLS configuration: this node's certificate.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minVersion}, nil
}

// ClientConfig trusts the CA certificates in caFile (with "", the
// system's roots).
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: minVersion}
	if caFile == "" {
		return cfg, nil
	}
	pool, err := CertPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// CertPool reads the PEM certificates of caFile.
func CertPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: %w", caFile, ErrNoCerts)
	}
	return pool, nil
}

// MutualTLS builds both sides of mutual TLS between peers from one node's
// certificate and key and the cluster's CA (--peer-tls-cert, -key, -ca):
// the server requires and verifies a client certificate signed by the CA,
// the client presents its own and verifies the server's against the CA.
// The client's ServerName is left to the caller (the host it dials;
// Generate puts every host and the node id in each certificate).
func MutualTLS(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load peer TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pool, err := CertPool(caFile)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13, // peers are all dobj: no old clients to serve
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client, nil
}
