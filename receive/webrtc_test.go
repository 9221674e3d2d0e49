package receive_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/nat"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// Forced over a WebRTC data channel on both sides (real pion on both,
// loopback candidates only), a 32 MiB file (8 MiB under -race, where
// pion's SCTP takes some 20 s for 32) arrives byte-identical and both
// sides name the webrtc path.
func TestWebRTCRoundTrip(t *testing.T) {
	size := int64(32 << 20)
	if raceEnabled {
		size = 8 << 20
	}
	_, url := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rand.NewChaCha8([32]byte{7}), size)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)
	_, out := landingDirs(t)
	loop := nat.Config{LoopbackOnly: true}
	codes := make(chan string, 1)
	sent := make(chan *send.Summary, 1)
	errc := make(chan error, 1)
	go func() {
		sum, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }},
			Transport: transfer.TransportWebRTC, NAT: loop}, []string{src})
		sent <- sum
		errc <- err
	}()
	res, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Out: out, Transport: transfer.TransportWebRTC, NAT: loop,
		Accept: func(transfer.Manifest) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	sum := <-sent
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Path, "webrtc") || !strings.HasPrefix(sum.Path, "webrtc") {
		t.Errorf("paths: receiver %q, sender %q; want webrtc", res.Path, sum.Path)
	}
	g, err := os.Open(filepath.Join(out, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	h.Reset()
	if n, err := io.Copy(h, g); err != nil || n != size || string(h.Sum(nil)) != string(want) {
		t.Fatalf("received %d bytes (%v), intact: %v", n, err, string(h.Sum(nil)) == string(want))
	}
	t.Logf("over %s in %v", res.Path, res.Duration)
}
