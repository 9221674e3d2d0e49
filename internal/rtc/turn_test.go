//go:build !js

package rtc

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/relay"
	"github.com/pion/webrtc/v4"
)

// With ICETransportPolicyRelay on both sides the channel runs through
// ferry relay's TURN server, and carries a stream.
func TestTURNOnly(t *testing.T) {
	srv, err := relay.StartICE(context.Background(), relay.ICEConfig{
		TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", User: "u", Password: "not-a-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := webrtc.Configuration{
		ICEServers: []webrtc.ICEServer{{
			URLs:     []string{fmt.Sprintf("turn:%s?transport=udp", srv.TURNAddr())},
			Username: "u", Credential: "not-a-secret",
		}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	}
	off, ans := loopback(Offerer), loopback(Answerer)
	off.Config, ans.Config = cfg, cfg
	ctx := testContext(t, 30*time.Second)
	var mu sync.Mutex
	var types []string
	o, a := dialPair(ctx, t, off, ans, func(s Signal) Signal {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range s.Candidates {
			types = append(types, strings.Fields(c)[7])
		}
		return s
	})
	if o.err != nil || a.err != nil {
		t.Fatalf("Dial: offerer %v, answerer %v", o.err, a.err)
	}
	mu.Lock()
	for _, typ := range types {
		if typ != "relay" {
			t.Errorf("a %s candidate was signalled with the relay-only policy", typ)
		}
	}
	mu.Unlock()
	if p := o.c.Path(); p != "relay/relay" {
		t.Errorf("pair = %q, want relay/relay", p)
	}
	const size = 1 << 20
	go func() {
		io.Copy(o.c, stream(3, size))
		o.c.CloseWrite()
	}()
	want, _, _ := digest(stream(3, size))
	if got, n, err := digest(a.c); err != nil || n != size || got != want {
		t.Fatalf("through TURN: %d bytes, %v; intact: %v", n, err, got == want)
	}
}
