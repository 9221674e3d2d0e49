package lan_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/lan"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// (An external test package: send imports this one, for
// send.LocalNetwork.)

// TestDiscoveryLoopback: ferry's sender and receiver, with no relay,
// meet through the sender's own mailbox, found by multicast DNS on the
// loopback interface.
func TestDiscoveryLoopback(t *testing.T) {
	d := lan.Discovery{Net: lan.Loopback(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const noRelay = "ws://127.0.0.1:1/v1"
	codes, errc := make(chan string, 1), make(chan error, 1)
	var told error
	go func() {
		errc <- send.Text(ctx, send.Options{Relay: noRelay, LAN: d, OnCode: func(c string) { codes <- c },
			OnNoRelay: func(err error) { told = err }}, "found by mDNS")
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-errc:
		t.Fatalf("send: %v", err)
	}
	if told == nil || !strings.Contains(told.Error(), "127.0.0.1:1") {
		t.Errorf("OnNoRelay was told %v, want the relay's dial error", told)
	}
	res, err := receive.Run(ctx, code, receive.Options{Relay: noRelay, LAN: d})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if res.Text != "found by mDNS" {
		t.Fatalf("text = %q", res.Text)
	}
	if err := <-errc; err != nil {
		t.Fatalf("send: %v", err)
	}
}
