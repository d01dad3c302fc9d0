// Package egress guards the addresses action kinds connect to. Payload
// text can reach a URL (a template), and a rules file can name any host,
// so by default the service refuses to connect to the machine itself, its
// private networks and its cloud metadata endpoint: loopback, link-local
// (169.254.169.254), private (10/8, 172.16/12, 192.168/16), shared
// (CGNAT, 100.64/10), unique-local IPv6 (fc00::/7), multicast, unspecified
// and "this network" addresses, in whatever form they are written
// (0x7f000001, [::ffff:127.0.0.1]). The check runs at dial time, on the
// address actually dialled, so a name that resolves to a public address
// when checked and to a private one when used (DNS rebinding) is refused
// too.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Guard decides which addresses may be dialled. The zero value refuses
// every address of the kinds above; a nil *Guard allows everything.
type Guard struct {
	// Allow lists networks dialled even though they are private
	// (`--egress-allow CIDR`).
	Allow []netip.Prefix
	// Private allows every address (a destination's allow_private: true).
	Private bool
}

// RefusedError is a dial the guard refused. Retrying cannot help: it is a
// matter of configuration.
type RefusedError struct {
	Addr netip.Addr
	What string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s, a %s address (allow it with allow_private: true on the destination, or --egress-allow)", e.Addr, e.What)
}

var blocked = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "unique local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Check returns a *RefusedError if addr may not be dialled.
func (g *Guard) Check(addr netip.Addr) error {
	if g == nil || g.Private {
		return nil
	}
	a := addr.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	for _, p := range g.Allow {
		if p.Contains(a) || p.Contains(addr) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return &RefusedError{Addr: a, What: b.what}
		}
	}
	return nil
}

// Control is a net.Dialer.ControlContext that refuses what Check refuses,
// on the address about to be dialled.
func (g *Guard) Control(_ context.Context, network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("egress: dialling %q, not an address", host)
	}
	return g.Check(ip)
}

// Dialer returns a net.Dialer that applies the guard.
func (g *Guard) Dialer(d net.Dialer) *net.Dialer {
	if g != nil {
		d.ControlContext = g.Control
	}
	return &d
}

// ParseAllow reads --egress-allow values: CIDRs (10.0.0.0/8) or single
// addresses.
func ParseAllow(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--egress-allow: expected a network such as 10.0.0.0/8 or an address, got %q", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
