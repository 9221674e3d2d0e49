package transfer

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/nat"
)

// Between two CLI peers QUIC beats a data channel; through TURN likewise;
// direct TCP beats everything and the transit relay nothing.
func TestRankOrder(t *testing.T) {
	order := []string{PathDirect, "ice host", "ice srflx/prflx", "webrtc host", "webrtc", "webrtc srflx/host",
		pathICERelay, pathWebRTCRelay, pathTransitRelay}
	want := []int{6, 5, 5, 4, 4, 4, 3, 2, 1}
	for i, p := range order {
		if got := rank(p); got != want[i] {
			t.Errorf("rank(%q) = %d, want %d", p, got, want[i])
		}
	}
}

func TestWebRTCPath(t *testing.T) {
	for pair, want := range map[string]string{
		"":            "webrtc",
		"host/host":   "webrtc host",
		"host/prflx":  "webrtc host/prflx",
		"relay/host":  "webrtc relay (turn)",
		"srflx/relay": "webrtc relay (turn)",
	} {
		if got := webrtcPath(pair); got != want {
			t.Errorf("webrtcPath(%q) = %q, want %q", pair, got, want)
		}
	}
}

// A side offers WebRTC in auto and webrtc modes (and nothing else in
// webrtc mode), and says so in its Transports.
func TestPrepareLinkWebRTC(t *testing.T) {
	if err := CheckTransport(TransportWebRTC); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		transport         string
		webrtc, tcp, quic bool
	}{
		{TransportAuto, true, true, true},
		{TransportWebRTC, true, false, false},
		{TransportTCP, false, true, false},
		{TransportICE, false, false, true},
	} {
		l, tr, err := PrepareLink(context.Background(), LinkOptions{Transport: tc.transport, ListenTCP: "127.0.0.1:0",
			NAT: nat.Config{LoopbackOnly: true}})
		if err != nil {
			t.Fatalf("%s: %v", tc.transport, err)
		}
		l.Close()
		if tr.WebRTC != tc.webrtc || (len(tr.TCP) > 0) != tc.tcp || (tr.ICE != nil) != tc.quic {
			t.Errorf("%s: transports %+v; want webrtc %v, tcp %v, ice %v", tc.transport, tr, tc.webrtc, tc.tcp, tc.quic)
		}
		b, _ := json.Marshal(tr)
		if strings.Contains(string(b), `"webrtc":true`) != tc.webrtc {
			t.Errorf("%s: %s", tc.transport, b)
		}
	}
}
