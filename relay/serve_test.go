package relay

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestServeShutdown(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()

	url := "ws://" + ln.Addr().String() + "/v1"
	c, _ := dial(t, url)
	c.bind(testApp, "aaaa")
	c.request("allocated", "allocate")
	cancel()
	if got := c.closeStatus(); got != websocket.StatusGoingAway {
		t.Errorf("client saw close status %v, want %v", got, websocket.StatusGoingAway)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still listening after Serve returned")
	}
	// The server itself is still usable until Close.
	if !s.hasNameplate(testApp, "1") {
		t.Error("Serve's shutdown lost state")
	}
}

func TestServeListenerError(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Serve(t.Context(), ln); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

func TestCloseDisconnects(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
	c, _ := dial(t, url)
	c.bind(testApp, "aaaa")
	c.command("open", "mailbox", "m")
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	if got := c.closeStatus(); got != websocket.StatusGoingAway {
		t.Errorf("client saw close status %v, want %v", got, websocket.StatusGoingAway)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, resp, err := dialFrom(ctx, url, ""); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v; want HTTP 503", resp, err)
	}
}

func TestHTTPPaths(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	for path, want := range map[string]int{"/": 404, "/v2": 404, "/v1/x": 404, "/v1": http.StatusUpgradeRequired} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestKeepaliveDropsDeadClients(t *testing.T) {
	s, url := startServer(t, Config{PingInterval: 30 * time.Millisecond})
	alive, _ := dial(t, url)
	alive.bind(testApp, "alive")
	go func() {
		// Reading is what answers pings.
		for {
			if _, err := alive.readErr(); err != nil {
				return
			}
		}
	}()
	dead, _ := dial(t, url)
	dead.bind(testApp, "dead")
	// dead now stops reading, so it never answers a ping.
	waitFor(t, "the unresponsive client to be dropped", func() bool { return s.connCount() == 1 })
	time.Sleep(150 * time.Millisecond)
	if n := s.connCount(); n != 1 {
		t.Errorf("%d connections, want the responsive client kept", n)
	}
}
