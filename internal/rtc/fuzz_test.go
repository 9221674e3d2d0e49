package rtc

import (
	"strings"
	"testing"
)

// FuzzVetSignal: whatever a peer signals, vetting returns (no panic), and
// what it accepts is within the caps: a description of at most MaxSDP
// printable bytes with exactly one data-channel section, a candidate of
// at most nat.MaxCandidateLen printable bytes.
func FuzzVetSignal(f *testing.F) {
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n",
		"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host")
	f.Add("m=audio 9 RTP/AVP 0\r\n", "candidate:2 1 tcp 1 10.0.0.1 9 typ host tcptype active")
	f.Add("m=application 9 x\r\nm=application 9 y\r\n", "candidate:3 1 udp 1 abc.local 9 typ host")
	f.Add("", "candidate:x 1 udp 1 203.0.113.1 70000 typ relay raddr 0.0.0.0 rport 0")
	f.Fuzz(func(t *testing.T, sdp, cand string) {
		v := newVetter(false)
		if err := v.checkSDP(sdp); err == nil {
			if len(sdp) > MaxSDP || strings.Count(sdp, "m=application") < 1 {
				t.Fatalf("accepted a description of %d bytes without a data channel", len(sdp))
			}
		}
		if ok, err := v.check(cand); err == nil && ok && !strings.HasPrefix(cand, "candidate:") {
			t.Fatalf("accepted %q", cand)
		}
	})
}
