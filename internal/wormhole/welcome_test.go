package wormhole

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/relay"
)

// TestYourAddress: the address the relay's welcome reports (your-address,
// mailbox server 0.8) is kept for the ICE hint, and a relay that asks for
// hashcash is served.
func TestYourAddress(t *testing.T) {
	s, err := relay.New(relay.Config{HashcashBits: 8})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := Dial(ctx, Config{RelayURL: "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx, Happy)
	if got := w.YourAddress(); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("YourAddress = %v, want 127.0.0.1", got)
	}
}
