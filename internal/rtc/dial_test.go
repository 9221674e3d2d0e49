package rtc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// fingerprintLine matches an SDP's DTLS certificate fingerprint.
var fingerprintLine = regexp.MustCompile(`a=fingerprint:sha-256 [0-9A-Fa-f:]+`)

// A peer whose DTLS certificate does not match the fingerprint in the
// SDP that reached the other side (here: the fingerprint rewritten in
// transit to another certificate's, as a man in the middle of an
// unauthenticated signalling channel would) never gets a data channel,
// in either direction.
func TestFingerprintMismatchFails(t *testing.T) {
	cert, err := webrtc.GenerateCertificate(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	fps, err := cert.GetFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	other := "a=fingerprint:sha-256 " + fps[0].Value
	for _, which := range []string{TypeOffer, TypeAnswer} {
		t.Run(which, func(t *testing.T) {
			ctx := testContext(t, 30*time.Second)
			rewrote := false
			o, a := dialPair(ctx, t, loopback(Offerer), loopback(Answerer), func(s Signal) Signal {
				if s.Type == which {
					if !fingerprintLine.MatchString(s.SDP) {
						t.Errorf("no fingerprint in the %s:\n%s", which, s.SDP)
					}
					s.SDP = fingerprintLine.ReplaceAllString(s.SDP, other)
					rewrote = true
				}
				return s
			})
			if !rewrote {
				t.Fatalf("no %s went by", which)
			}
			if o.err == nil || a.err == nil || ctx.Err() != nil {
				t.Fatalf("Dial with a rewritten fingerprint: offerer %v, answerer %v; want both to fail, and not for lack of time", o.err, a.err)
			}
			t.Logf("offerer: %v; answerer: %v", o.err, a.err)
		})
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Nothing in ferry may switch off the DTLS certificate check against the
// fingerprint signalled through the PAKE channel.
func TestNoFingerprintBypass(t *testing.T) {
	root := "../.."
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	banned := "DisableCertificate" + "FingerprintVerification"
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), banned) {
			t.Errorf("%s mentions %s", path, banned)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The answerer needs the offer first; the offerer needs an answer.
func TestSignalOrder(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	for _, role := range []Role{Offerer, Answerer} {
		recv := make(chan Signal, 1)
		recv <- Signal{Candidates: []string{"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}
		o := loopback(role)
		o.Send = func(context.Context, Signal) error { return nil }
		o.Recv = recv
		if _, err := Dial(ctx, o); !errors.Is(err, ErrBadSignal) {
			t.Errorf("role %d: Dial = %v, want ErrBadSignal", role, err)
		}
	}
}

func TestVetCandidates(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		loopback bool
		use      bool
		bad      bool
	}{
		{raw: "candidate:1 1 udp 2130706431 192.0.2.7 5000 typ host", use: true},
		{raw: "candidate:1 1 UDP 2130706431 2001:db8::1 5000 typ srflx raddr 0.0.0.0 rport 0", use: true},
		{raw: "candidate:1 1 udp 2130706431 abcd-ef.local 5000 typ host", use: true},
		{raw: "candidate:1 1 tcp 2130706431 192.0.2.7 9 typ host tcptype active"}, // skipped
		{raw: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", loopback: true, use: true},
		{raw: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", bad: true},
		{raw: "candidate:1 1 udp 2130706431 192.0.2.7 5000 typ host", loopback: true, bad: true},
		{raw: "candidate:1 1 udp 2130706431 turn.example.com 5000 typ relay", bad: true},
		{raw: "candidate:1 1 udp 2130706431 evil.local 5000 typ relay", bad: true},
		{raw: "candidate:1 1 udp 2130706431 224.0.0.1 5000 typ host", bad: true},
		{raw: "candidate:1 1 udp 2130706431 fe80::1%eth0 5000 typ host", bad: true},
		{raw: "candidate:1 2 udp 2130706431 192.0.2.7 5000 typ host", bad: true},
		{raw: "candidate:1 1 udp 2130706431 192.0.2.7 0 typ host", bad: true},
		{raw: "candidate:1 1 udp 2130706431 192.0.2.7 5000 typ bogus", bad: true},
		{raw: "candidate:1 1 udp 1 192.0.2.7\x1b 5000 typ host", bad: true},
		{raw: "1 1 udp 1 192.0.2.7 5000 typ host", bad: true},
		{raw: "candidate:1 1 udp 1 192.0.2.7 5000 typ host " + strings.Repeat("x", 600), bad: true},
	} {
		use, err := newVetter(tc.loopback).check(tc.raw)
		if (err != nil) != tc.bad || use != tc.use {
			t.Errorf("check(%q, loopback %v) = %v, %v; want use %v, bad %v", tc.raw, tc.loopback, use, err, tc.use, tc.bad)
		}
	}
	v := newVetter(false)
	for i := range 64 {
		if _, err := v.check(fmt.Sprintf("candidate:1 1 udp 1 192.0.2.7 %d typ host", 1000+i)); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	if _, err := v.check("candidate:1 1 udp 1 192.0.2.7 1000 typ host"); err != nil {
		t.Errorf("a repeated candidate: %v", err)
	}
	if _, err := v.check("candidate:1 1 udp 1 192.0.2.8 1000 typ host"); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("candidate 65 = %v, want refused", err)
	}
	if err := newVetter(false).checkSDP(strings.Repeat("a=x\r\n", MaxSDP/5+1)); !errors.Is(err, ErrBadSignal) {
		t.Errorf("an oversized SDP = %v", err)
	}
	const app = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	if err := newVetter(false).checkSDP(app + "a=candidate:1 1 udp 1 evil.example 9 typ host\r\n"); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("an SDP with a host name candidate = %v", err)
	}
	for _, sdp := range []string{"v=0\r\n", app + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", app + app} {
		if err := newVetter(false).checkSDP(sdp); !errors.Is(err, ErrBadSignal) {
			t.Errorf("checkSDP(%q) = %v, want ErrBadSignal", sdp, err)
		}
	}
	if err := newVetter(false).checkSDP(app + "a=candidate:1 1 udp 1 192.0.2.7 9 typ host\r\n"); err != nil {
		t.Errorf("a good SDP: %v", err)
	}
}
