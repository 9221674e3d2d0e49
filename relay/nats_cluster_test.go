package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// natsNode is one relay of a cluster, with its own NATS server.
type natsNode struct {
	nats *relay.NATSServer
	srv  *relay.Server
	url  string
	stop func() // stops serving, closes the relay, then its NATS server
}

// startNATSCluster starts n NATS servers with JetStream, clustered over
// loopback (every server given every server's cluster address), and a
// relay on each that keeps its state in it, with 3 replicas (and
// cfg.NATS.Timeout, if cfg.NATS is set).
func startNATSCluster(t *testing.T, n int, cfg relay.Config) []*natsNode {
	t.Helper()
	ctx := t.Context()
	// Every server must know its routes when it starts: each cluster
	// port is one the kernel handed a listener of ours, closed just
	// before the servers start.
	var routes, listen []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listen = append(listen, ln.Addr().String())
		routes = append(routes, "nats://"+ln.Addr().String())
		ln.Close()
	}
	servers := make([]*relay.NATSServer, n)
	for i := range servers {
		ns, err := relay.StartNATS(ctx, relay.NATSServerConfig{Dir: t.TempDir(), Name: fmt.Sprintf("node%d", i+1),
			ClusterListen: listen[i], Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ns.Close)
		servers[i] = ns
	}
	nodes := make([]*natsNode, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			c := cfg
			c.NATS = &relay.NATSConfig{Server: servers[i], Replicas: min(3, n), Prefix: "test"}
			if cfg.NATS != nil {
				c.NATS.Timeout = cfg.NATS.Timeout
			}
			nodes[i], errs[i] = serveNode(ctx, servers[i], c)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("relay %d: %v", i+1, err)
		}
		t.Cleanup(nodes[i].stop)
	}
	return nodes
}

func serveNode(ctx context.Context, ns *relay.NATSServer, cfg relay.Config) (*natsNode, error) {
	srv, err := relay.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(sctx, ln)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			srv.Close()
			ns.Close()
		})
	}
	return &natsNode{nats: ns, srv: srv, url: "ws://" + ln.Addr().String() + "/v1", stop: stop}, nil
}

// TestNATSCluster: three relays on one JetStream cluster serve a wormhole
// whose sides use different relays, hand out 1,000 nameplates allocated
// at once over all three without a duplicate, and, with one relay and its
// NATS server stopped, go on serving: a sender that waited on the stopped
// relay moves to the next of its pool and its receiver gets the text.
func TestNATSCluster(t *testing.T) {
	nodes := startNATSCluster(t, 3, relay.Config{
		MaxConns: 2000, MaxConnsPerIP: 2000, MaxConnsPerPrefix: 2000,
		MaxNameplatesPerIP: 2000, MaxNameplatesPerPrefix: 2000,
	})

	t.Run("text across nodes", func(t *testing.T) {
		textAcross(t, nodes[0].url, nodes[1].url, "4-purple-sausages", "from relay 1 to relay 2")
		textAcross(t, nodes[2].url, nodes[0].url, "", "from relay 3 to relay 1, allocated")
	})

	t.Run("1000 allocations", func(t *testing.T) {
		const clients = 1000
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		names := make([]string, clients)
		errs := make([]error, clients)
		var wg sync.WaitGroup
		var held sync.WaitGroup // every client stays connected until all have allocated
		held.Add(clients)
		for i := range clients {
			wg.Go(func() {
				names[i], errs[i] = allocateAndHold(ctx, nodes[i%3].url, fmt.Sprintf("side%04d", i), &held)
			})
		}
		wg.Wait()
		by := map[string]int{}
		for i, name := range names {
			if errs[i] != nil {
				t.Fatalf("client %d on relay %d: %v", i, i%3+1, errs[i])
			}
			if j, dup := by[name]; dup {
				t.Errorf("nameplate %s handed to client %d (relay %d) and client %d (relay %d)", name, j, j%3+1, i, i%3+1)
			}
			by[name] = i
		}
		if len(by) != clients {
			t.Errorf("%d distinct nameplates for %d clients", len(by), clients)
		}
	})

	t.Run("one node stopped", func(t *testing.T) {
		// A sender waits for its receiver on relay 3, with relay 1 next in
		// its pool; relay 3 stops; the sender moves to relay 1 and reopens
		// its mailbox there (in JetStream, so nothing is lost), and a
		// receiver on relay 2 gets the text.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		codes := make(chan string, 1)
		sent := make(chan error, 1)
		const text = "sent while relay 3 went away"
		go func() {
			sent <- send.Text(ctx, send.Options{Relay: nodes[2].url + "," + nodes[0].url, OnCode: func(c string) { codes <- c }}, text)
		}()
		var code string
		select {
		case code = <-codes:
		case err := <-sent:
			t.Fatalf("send: %v", err)
		}
		nodes[2].stop()
		res, err := receive.Run(ctx, code, receive.Options{Relay: nodes[1].url})
		if err != nil {
			t.Fatalf("receive through relay 2 after relay 3 stopped: %v", err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("send, after its relay stopped: %v", err)
		}
		if res.Text != text {
			t.Fatalf("received %q, want %q", res.Text, text)
		}

		textAcross(t, nodes[0].url, nodes[1].url, "", "after relay 3 stopped")
		textAcross(t, nodes[1].url, nodes[0].url, "", "and back")
	})
}

// textAcross sends text with ferry's send package through the relay at
// from and receives it with the receive package through the one at to.
func textAcross(t *testing.T, from, to, code, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	codes := make(chan string, 1)
	sent := make(chan error, 1)
	go func() {
		sent <- send.Text(ctx, send.Options{Relay: from, Code: code, OnCode: func(c string) { codes <- c }}, text)
	}()
	var got string
	select {
	case got = <-codes:
	case err := <-sent:
		t.Fatalf("send through %s: %v", from, err)
	}
	res, err := receive.Run(ctx, got, receive.Options{Relay: to})
	if err != nil {
		t.Fatalf("receive through %s: %v", to, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send through %s: %v", from, err)
	}
	if res.Text != text {
		t.Fatalf("received %q, want %q", res.Text, text)
	}
}

// allocateAndHold binds a client to the relay at url, allocates a
// nameplate, and keeps the connection until every client has (held).
func allocateAndHold(ctx context.Context, url, side string, held *sync.WaitGroup) (string, error) {
	allocated := false
	defer func() {
		if !allocated {
			held.Done()
		}
	}()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return "", err
	}
	defer ws.CloseNow()
	write := func(v map[string]any) error {
		b, _ := json.Marshal(v)
		return ws.Write(ctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "bind", "appid": "ferry-test/alloc", "side": side}); err != nil {
		return "", err
	}
	if err := write(map[string]any{"type": "allocate"}); err != nil {
		return "", err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return "", err
		}
		var m struct {
			Type      string `json:"type"`
			Nameplate string `json:"nameplate"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return "", err
		}
		switch m.Type {
		case "error":
			return "", fmt.Errorf("relay: %s", m.Error)
		case "allocated":
			allocated = true
			held.Done()
			held.Wait()
			return m.Nameplate, nil
		}
	}
}
