// Package pki makes and loads dobj's TLS material with Go's standard
// library only: `dobj certs` writes a cluster's CA and one certificate
// per node (Generate), serve loads the API's certificate (ServerConfig)
// and the peers' mutual-TLS configuration (MutualTLS), and clients trust
// a CA file (ClientConfig). It imports nothing of the project.
package pki
