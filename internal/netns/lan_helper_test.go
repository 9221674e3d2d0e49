package netns_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/lan"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// hostileEnv carries the wrong code the hostile advertiser guesses.
const hostileEnv = "FERRY_TEST_HOSTILE_CODE"

// TestHostileAdvertiserHelper is the hostile device of TestLAN's
// HostileAdvertiser, run by it inside a namespace: a real mailbox on the
// LAN, advertised for the nameplate of the code in hostileEnv, where a
// Go client claimed it with that (wrong) code and runs the key exchange.
func TestHostileAdvertiserHelper(t *testing.T) {
	code := os.Getenv(hostileEnv)
	if code == "" {
		t.Skip("runs only as TestLAN's hostile advertiser")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mb, err := lan.Network{}.Serve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	w, err := transfer.Dial(ctx, mb.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx, wormhole.Scary)
	if err := w.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if err := mb.Advertise(w.Nameplate()); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "hostile: advertising", mb.URL())
	err = w.Establish(ctx)
	fmt.Fprintln(os.Stderr, "hostile: exchange ended:", err)
}
