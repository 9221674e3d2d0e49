package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferrydrop/ferry/internal/rtc"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/pion/webrtc/v4"
)

// connectWebRTC opens a WebRTC data channel to the peer. The receiver
// makes the SDP offer: it learns that both sides can do WebRTC first
// (from the sender's offer) and sends its own right after its accept.
// SDP and candidates travel as Ferry.RTC messages, so the DTLS
// fingerprints in the SDP are those the PAKE channel carried.
func (l *Link) connectWebRTC(ctx context.Context, ch *Channel, role transit.Role) attempt {
	r := rtc.Answerer
	if role == transit.Receiver {
		r = rtc.Offerer
	}
	c, err := rtc.Dial(ctx, rtc.Options{
		Config: rtcConfig(l.opts.NAT),
		Role:   r,
		Send: func(ctx context.Context, s rtc.Signal) error {
			return ch.Send(ctx, Envelope{Ferry: &Ferry{RTC: &s}})
		},
		Recv:         ch.RTC(),
		LoopbackOnly: l.opts.NAT.LoopbackOnly,
		MDNS:         l.opts.NAT.MDNS,
		Net:          l.opts.NAT.Net,
		Logger:       l.log,
	})
	if err != nil {
		return attempt{err: fmt.Errorf("webrtc: %w", err)}
	}
	return attempt{conn: newConn(c, webrtcPath(c.Path()))}
}

// rtcConfig gives the data channel the link's STUN and TURN servers.
func rtcConfig(cfg natconf.Config) webrtc.Configuration {
	var c webrtc.Configuration
	if len(cfg.STUN) > 0 {
		c.ICEServers = append(c.ICEServers, webrtc.ICEServer{URLs: cfg.STUN})
	}
	for _, t := range cfg.TURN {
		c.ICEServers = append(c.ICEServers, webrtc.ICEServer{
			URLs: []string{t.URL}, Username: t.Username, Credential: t.Password,
			CredentialType: webrtc.ICECredentialTypePassword,
		})
	}
	if cfg.RelayOnly {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return c
}

// webrtcPath names a data channel's path from its candidate pair
// ("local/remote", "" where unknown), as the ICE path is named.
func webrtcPath(pair string) string {
	local, remote, ok := strings.Cut(pair, "/")
	switch {
	case !ok:
		return pathWebRTC
	case local == "relay" || remote == "relay":
		return pathWebRTCRelay
	case local == remote:
		return pathWebRTC + " " + local
	}
	return pathWebRTC + " " + pair
}
