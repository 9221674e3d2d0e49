package nat

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// RemoteIPAllowed reports whether ip, an address the peer named in a
// candidate, is one we may send connectivity checks to: a unicast
// address that is not loopback (only loopback with loopbackOnly). Other
// ICE implementations in ferry (the WebRTC path) apply the same policy.
func RemoteIPAllowed(ip netip.Addr, loopbackOnly bool) bool {
	return remoteIPAllowed(ip, loopbackOnly)
}

// RemoteIPFilter returns a remote IP filter for pion (ice.WithRemoteIPFilter,
// webrtc.SettingEngine.SetRemoteIPFilter): it applies RemoteIPAllowed and
// admits at most MaxRemoteAddresses addresses in all, signalled or
// peer-reflexive. Use one filter per connection.
func RemoteIPFilter(loopbackOnly bool) func(net.IP) bool {
	return (&remoteBudget{loopbackOnly: loopbackOnly}).allow
}

// LoggerFactory adapts l (nil: silent) to pion's logging, with the levels
// the Agent uses: pion's routine info at debug, its warnings at info.
func LoggerFactory(l *slog.Logger) logging.LoggerFactory {
	return pionLogs{l: orDiscard(l)}
}

// Network is the network pion should run on: n (a test's vnet) when it is
// not nil, else the real network, on which every UDP socket pion opens
// gets socketBuffer-sized buffers (with the default ~200 KiB the kernel
// drops bursts and throughput collapses).
func Network(n transport.Net, log *slog.Logger) (transport.Net, error) {
	if n != nil {
		return unconnectedFix{Net: n}, nil
	}
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("nat: list network interfaces: %w", err)
	}
	return bufferedNet{Net: std, log: orDiscard(log)}, nil
}
