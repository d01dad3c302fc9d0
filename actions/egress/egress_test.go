package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/egress"
)

// TestGuardRefusesLocalAndPrivateAddresses: every form of a local,
// private or metadata address is refused, public ones pass, and the
// allow list and allow_private open what they name.
func TestGuardRefusesLocalAndPrivateAddresses(t *testing.T) {
	var g egress.Guard
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "fe80::1", "fd00::1", "fc00::1", "100.64.0.1", "224.0.0.1", "ff02::1",
		"::ffff:10.0.0.1", "::ffff:169.254.169.254", "255.255.255.255",
	}
	for _, a := range refused {
		err := g.Check(netip.MustParseAddr(a))
		var r *egress.RefusedError
		require.True(t, errors.As(err, &r), "%s must be refused", a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2001:4860:4860::8888", "192.0.2.1"} {
		require.NoError(t, g.Check(netip.MustParseAddr(a)), a)
	}
	allow, err := egress.ParseAllow([]string{"10.0.0.0/8", "127.0.0.1"})
	require.NoError(t, err)
	g = egress.Guard{Allow: allow}
	require.NoError(t, g.Check(netip.MustParseAddr("10.9.9.9")))
	require.NoError(t, g.Check(netip.MustParseAddr("127.0.0.1")))
	require.NoError(t, g.Check(netip.MustParseAddr("::ffff:127.0.0.1")))
	require.Error(t, g.Check(netip.MustParseAddr("127.0.0.2")))
	require.NoError(t, (&egress.Guard{Private: true}).Check(netip.MustParseAddr("169.254.169.254")))
	_, err = egress.ParseAllow([]string{"intranet"})
	require.EqualError(t, err, `--egress-allow: expected a network such as 10.0.0.0/8 or an address, got "intranet"`)
}

// TestGuardAtDialTime: the check runs on the address dialled, so a name
// (localhost) and the odd spellings of 127.0.0.1 that resolve to loopback
// are refused before any byte is sent.
func TestGuardAtDialTime(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var g egress.Guard
	client := &http.Client{Transport: &http.Transport{DialContext: g.Dialer(net.Dialer{}).DialContext}}
	for _, host := range []string{"127.0.0.1", "localhost", "0x7f000001", "2130706433", "127.1", "[::ffff:127.0.0.1]"} {
		resp, err := client.Get("http://" + host + ":" + port + "/")
		if resp != nil {
			resp.Body.Close()
		}
		// Forms the resolver does not take as addresses fail to resolve;
		// whatever resolves is checked where it is dialled.
		var (
			r      *egress.RefusedError
			dnsErr *net.DNSError
		)
		switch {
		case errors.As(err, &r):
			require.True(t, strings.Contains(err.Error(), "loopback"), "%s: %v", host, err)
		case errors.As(err, &dnsErr):
		default:
			t.Fatalf("%s: neither refused nor unresolved: %v", host, err)
		}
	}
	require.False(t, hit, "nothing reached the server")
	ok := &http.Client{Transport: &http.Transport{DialContext: (&egress.Guard{Private: true}).Dialer(net.Dialer{}).DialContext}}
	resp, err := ok.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.True(t, hit)
	require.NoError(t, (*egress.Guard)(nil).Control(context.Background(), "tcp", "127.0.0.1:1", nil), "a nil guard allows all")
}
