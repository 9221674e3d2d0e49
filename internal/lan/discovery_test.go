package lan

import (
	"context"
	"strings"
	"testing"
)

// TestServeOnlyLAN: the mailbox listens on the LAN addresses given, on
// one port, and the URLs say so.
func TestServeOnlyLAN(t *testing.T) {
	m, err := loopback(t).Serve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	urls := m.URLs()
	if len(urls) == 0 || !strings.HasPrefix(m.URL(), "ws://127.") || !strings.HasSuffix(m.URL(), "/v1") {
		t.Fatalf("URLs %q", urls)
	}
}
