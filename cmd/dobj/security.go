package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dobj/dobj/auth"
	"github.com/dobj/dobj/client"
	"github.com/dobj/dobj/config"
	"github.com/dobj/dobj/pki"
)

// security is what serve loads from the auth and TLS settings.
type security struct {
	tokens    *auth.Store // nil: no authentication
	serverTLS *tls.Config // nil: plain HTTP
	joinTLS   *tls.Config // nil: the other nodes' APIs are plain HTTP (serve --join)
	// peerServer and peerClient make node-to-node traffic mutual TLS;
	// nil: plain TCP.
	peerServer, peerClient *tls.Config
}

// loadSecurity reads the token file and certificates the settings name.
// It logs how many tokens there are, never which.
func loadSecurity(cfg config.Config, log *slog.Logger) (security, error) {
	var sec security
	if cfg.AuthFile != "" {
		s, err := auth.Open(cfg.AuthFile)
		if err != nil {
			return sec, fmt.Errorf("--auth-file: %w", err)
		}
		if s.Len() == 0 {
			log.Warn("the auth file holds no tokens: every request but /_health and /_ready will be refused", "auth_file", cfg.AuthFile)
		}
		log.Info("loaded auth file", "auth_file", cfg.AuthFile, "tokens", s.Len())
		sec.tokens = s
	}
	if cfg.TLS() {
		c, err := pki.ServerConfig(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return sec, fmt.Errorf("--tls-cert: %w", err)
		}
		sec.serverTLS = c
		ca := cfg.TLSCA
		if ca == "" {
			ca = cfg.PeerTLSCA
		}
		if sec.joinTLS, err = pki.ClientConfig(ca); err != nil {
			return sec, fmt.Errorf("--tls-ca: %w", err)
		}
	}
	if cfg.PeerTLS() {
		var err error
		if sec.peerServer, sec.peerClient, err = pki.MutualTLS(cfg.PeerTLSCert, cfg.PeerTLSKey, cfg.PeerTLSCA); err != nil {
			return sec, fmt.Errorf("--peer-tls-cert: %w", err)
		}
	}
	return sec, nil
}

// joinClient is the client that asks url's cluster to add this node:
// with DOBJ_TOKEN (an admin token) and this node's CA when set.
func (sec security) joinClient(url string, getenv func(string) string) *client.Client {
	opts := []client.Option{client.WithToken(getenv("DOBJ_TOKEN"))}
	if sec.joinTLS != nil {
		opts = append(opts, client.WithTLSConfig(sec.joinTLS))
	}
	opts = append(opts, client.WithTimeout(10*time.Second))
	return client.New(url, opts...)
}

// reloadOnHangup reloads the token file on every SIGHUP, and after each
// reload calls reloaded (which ends what removed tokens held open), until
// the returned function is called. A file that does not parse leaves the
// tokens in use; the log says how many tokens there are, never which.
func reloadOnHangup(tokens *auth.Store, log *slog.Logger, reloaded func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := tokens.Reload(); err != nil {
					log.Error("SIGHUP: auth file not reloaded; the tokens in use stay", "err", err)
					continue
				}
				log.Info("SIGHUP: reloaded auth file", "tokens", tokens.Len())
				reloaded()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
