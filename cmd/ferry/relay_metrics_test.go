package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startRelayCLI runs `ferry relay args...` until the test ends and returns
// the submatches of each pattern in want, read from its stderr.
func startRelayCLI(t *testing.T, args []string, want ...string) [][]string {
	t.Helper()
	var stderr lockedBuffer
	c := newCLI(strings.NewReader(""), io.Discard, &stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, append([]string{"relay"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d:\n%s", code, stderr.String())
		}
	})
	got := make([][]string, len(want))
	for i, w := range want {
		re := regexp.MustCompile(w)
		for deadline := time.Now().Add(30 * time.Second); got[i] == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("relay never printed %q:\n%s", w, stderr.String())
			}
			got[i] = re.FindStringSubmatch(stderr.String())
		}
	}
	return got
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestRelayMetrics: ferry relay serves Prometheus metrics at /metrics on
// its mailbox listener, for the mailbox, transit relay and TURN server,
// and counts a connected client; --metrics-listen moves them to a
// listener of their own.
func TestRelayMetrics(t *testing.T) {
	m := startRelayCLI(t, []string{"--listen", "127.0.0.1:0", "--transit-listen", "127.0.0.1:0",
		"--turn-listen", "127.0.0.1:0", "--turn-ip", "127.0.0.1", "--turn-secret", "s3cret"},
		`relay listening on ws://(\S+)/v1`, `TURN on turn:`)
	addr := m[0][1]
	ws, _, err := websocket.Dial(t.Context(), "ws://"+addr+"/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(t.Context()); err != nil { // the welcome: the client is counted
		t.Fatal(err)
	}
	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		"\nferry_mailbox_connections 1\n",
		"\nferry_mailbox_connections_total 1\n",
		"\nferry_mailbox_nameplates 0\n",
		`ferry_mailbox_refusals_total{reason="crowded"} 0`,
		"\nferry_transit_pairs 0\n",
		`ferry_transit_connections{kind="websocket"} 0`,
		"\nferry_turn_allocations 0\n",
		`ferry_turn_refusals_total{reason="credentials"} 0`,
		"\ngo_goroutines ",
		"\nprocess_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	m = startRelayCLI(t, []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
		`relay listening on ws://(\S+)/v1`, `metrics on (http://\S+/metrics)`)
	if code, _ := get(t, "http://"+m[0][1]+"/metrics"); code != http.StatusNotFound {
		t.Errorf("with --metrics-listen, the mailbox listener's /metrics = %d, want 404", code)
	}
	if code, body := get(t, m[1][1]); code != http.StatusOK || !strings.Contains(body, "ferry_mailbox_connections 0") {
		t.Errorf("GET %s = %d:\n%s", m[1][1], code, body)
	}
}
