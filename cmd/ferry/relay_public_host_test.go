package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/ferrydrop/ferry/web"
)

// publicHostNode is one `ferry relay --public-host` run by TestRelayPublicHost.
type publicHostNode struct {
	mailbox, turn, transit string // HOST:PORT each, as the relay logged them
	stderr                 *lockedBuffer
}

// startPublicHostNode runs ferry relay with a transit relay, STUN and TURN
// (time-limited credentials from secret) on loopback ports of its own,
// --public-host 127.0.0.1 and no --turn-ip.
func startPublicHostNode(t *testing.T, secret string) *publicHostNode {
	t.Helper()
	n := &publicHostNode{stderr: &lockedBuffer{}}
	c := newCLI(strings.NewReader(""), io.Discard, n.stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- c.run(ctx, []string{"relay", "--listen", "127.0.0.1:0", "--transit-listen", "127.0.0.1:0",
			"--stun-listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--turn-secret", secret,
			"--public-host", "127.0.0.1"})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d:\n%s", code, n.stderr.String())
		}
	})
	want := map[*string]*regexp.Regexp{
		&n.mailbox: regexp.MustCompile(`relay listening on ws://(\S+)/v1`),
		&n.turn:    regexp.MustCompile(`TURN on turn:(\S+)\?transport=udp`),
		&n.transit: regexp.MustCompile(`transit relay hint tcp:(\S+)`),
	}
	for deadline := time.Now().Add(30 * time.Second); len(want) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("relay did not log its addresses:\n%s", n.stderr.String())
		}
		for p, re := range want {
			if m := re.FindStringSubmatch(n.stderr.String()); m != nil {
				*p = m[1]
				delete(want, p)
			}
		}
	}
	return n
}

// TestRelayPublicHost: two nodes behind one name (the page asked for as
// relay.example) each name themselves, by --public-host, in the page's
// settings (transit relay, STUN, TURN) and in their transit hint; TURN
// advertises that host without --turn-ip; and the TURN credentials one
// node's page hands out, from the shared --turn-secret, allocate on the
// other node too.
func TestRelayPublicHost(t *testing.T) {
	const secret = "shared-by-both-nodes"
	nodes := []*publicHostNode{startPublicHostNode(t, secret), startPublicHostNode(t, secret)}
	configs := make([]web.Config, len(nodes))
	for i, n := range nodes {
		_, transitPort, _ := net.SplitHostPort(n.transit)
		if n.transit != "127.0.0.1:"+transitPort || !strings.Contains(n.stderr.String(), "transit relay on tcp:127.0.0.1:"+transitPort) {
			t.Errorf("node %d: transit hint %q is not its public host and transit port:\n%s", i+1, n.transit, n.stderr.String())
		}
		req, _ := http.NewRequest("GET", "http://"+n.mailbox+"/ferry.json", nil)
		req.Host = "relay.example" // the name both nodes share
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&configs[i])
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("node %d: ferry.json: %d, %v", i+1, resp.StatusCode, err)
		}
		cfg := configs[i]
		if cfg.Transit != n.transit {
			t.Errorf("node %d: page's transit relay %q, want its own %q", i+1, cfg.Transit, n.transit)
		}
		var turnURL string
		for _, s := range cfg.ICEServers {
			for _, u := range s.URLs {
				if strings.Contains(u, "relay.example") {
					t.Errorf("node %d: page names the shared name: %q", i+1, u)
				}
				if strings.HasPrefix(u, "turn:") {
					turnURL = u
				}
			}
		}
		if want := "turn:" + n.turn + "?transport=udp"; turnURL != want {
			t.Errorf("node %d: page's TURN %q, want %q", i+1, turnURL, want)
		}
	}
	for i, n := range nodes {
		other := configs[1-i]
		var user, pass string
		for _, s := range other.ICEServers {
			if s.Username != "" {
				user, pass = s.Username, s.Credential
			}
		}
		relayed, err := turnAllocate(n.turn, user, pass)
		if err != nil {
			t.Fatalf("node %d refused node %d's TURN credentials: %v", i+1, 2-i, err)
		}
		if ip := relayed.(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("node %d relays on %v, want its public host 127.0.0.1", i+1, relayed)
		}
	}
	// And a wrong secret's credentials are refused, so the check above means something.
	if _, err := turnAllocate(nodes[0].turn, "4102444800:ferry-web", "d3Jvbmc="); err == nil {
		t.Error("TURN allocated with made-up credentials")
	}
}

// turnAllocate allocates a TURN relay on server with user and pass and
// returns its relayed address.
func turnAllocate(server, user, pass string) (net.Addr, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Conn: conn, Username: user, Password: pass})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := c.AllocateWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate: %w", err)
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}
