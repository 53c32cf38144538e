package cluster

import (
	"fmt"
	"net"
)

// AdvertisedAddr is the address to publish for a listener bound at bound:
// advertise, with port 0 replaced by the bound port (a node told to
// listen on any free port publishes the one it got), or bound itself when
// advertise is empty. It refuses a result the other nodes cannot dial:
// host 0.0.0.0, :: or none means every interface, and a peer dialling it
// reaches itself.
func AdvertisedAddr(advertise string, bound net.Addr) (string, error) {
	if advertise == "" {
		advertise = bound.String()
	}
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return "", fmt.Errorf("advertise address %q: %w", advertise, err)
	}
	if unspecified(host) {
		return "", fmt.Errorf("advertise address %q: %w", advertise, ErrUnspecifiedHost)
	}
	if port == "0" {
		_, port, err = net.SplitHostPort(bound.String())
		if err != nil {
			return "", fmt.Errorf("bound address %q: %w", bound, err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// unspecified reports whether host means every interface: empty, 0.0.0.0
// or ::.
func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}
