//go:build !js

package rtc

import (
	"context"
	"log/slog"
	"net"

	"github.com/ferrydrop/ferry/nat"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// sctpReceiveBuffer is the SCTP receive window we advertise (pion's
// default, 1 MiB, caps a path of 50 ms at 20 MB/s). What arrives moves on
// to the Conn's queue at once, so it holds little in practice.
const sctpReceiveBuffer = HighWater

// newAPI builds pion's engine for one connection. The SettingEngine is
// ours alone: the DTLS certificate check against the signalled
// fingerprint stays on.
func newAPI(opts Options, log *slog.Logger) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = nat.LoggerFactory(log)
	se.SetSCTPMaxMessageSize(MaxReceiveMessage)
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	se.SetRemoteIPFilter(nat.RemoteIPFilter(opts.LoopbackOnly))
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if opts.LoopbackOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if opts.MDNS {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
	} else {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	n, err := nat.Network(opts.Net, log)
	if err != nil {
		return nil, err
	}
	se.SetNet(n)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)), nil
}

// prepareChannel has nothing to do natively: messages arrive as bytes.
func prepareChannel(*webrtc.DataChannel) {}

// selectedPair names the selected candidate pair, "local/remote".
func selectedPair(pc *webrtc.PeerConnection) string {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return ""
	}
	p, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || p == nil || p.Local == nil || p.Remote == nil {
		return ""
	}
	return p.Local.Typ.String() + "/" + p.Remote.Typ.String()
}

// peerMaxMessage is the largest message the peer takes (its SDP's
// max-message-size; pion takes 65535 when it names none).
func peerMaxMessage(pc *webrtc.PeerConnection) int {
	if sctp := pc.SCTP(); sctp != nil {
		if n := int(sctp.GetCapabilities().MaxMessageSize); n > 0 {
			return n
		}
	}
	return DefaultMessage
}

// pairStatsOf is nil natively: pion's own ICE timeouts notice a peer that
// went away (see liveness.go).
func pairStatsOf(*webrtc.PeerConnection) func(context.Context) (pairStats, bool) { return nil }
