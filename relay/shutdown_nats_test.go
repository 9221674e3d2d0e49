package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ferrydrop/ferry/relay"
)

// TestShutdownWithoutQuorum: a relay whose NATS cluster lost its quorum
// (two nodes of three stopped) stops within a few seconds, although
// clients wait for commands that JetStream would answer only at the
// relay's NATS Timeout (a minute here): at shutdown the requests still
// running after a grace are abandoned. Before, stopping waited for each
// of them, one after the other.
func TestShutdownWithoutQuorum(t *testing.T) {
	nodes := startNATSCluster(t, 3, relay.Config{NATS: &relay.NATSConfig{Timeout: time.Minute}})
	textAcross(t, nodes[0].url, nodes[1].url, "", "while all three run")
	nodes[1].stop()
	nodes[2].stop()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const clients = 3
	for i := range clients {
		ws, _, err := websocket.Dial(ctx, nodes[0].url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		// Each allocate is acked before the relay runs it, so once the
		// ack is here the allocate waits for JetStream, where a write
		// needs a majority of the three.
		for _, cmd := range []map[string]any{
			{"type": "bind", "appid": "ferry-test/quorum", "side": fmt.Sprintf("side%d", i), "id": "b"},
			{"type": "allocate", "id": "a"},
		} {
			b, _ := json.Marshal(cmd)
			if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
				t.Fatal(err)
			}
			for acked := false; !acked; {
				_, b, err := ws.Read(ctx)
				if err != nil {
					t.Fatalf("client %d, waiting for the ack of %s: %v", i, cmd["type"], err)
				}
				var m struct{ Type, ID string }
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				acked = m.Type == "ack" && m.ID == cmd["id"]
			}
		}
	}

	stopped := make(chan struct{})
	start := time.Now()
	go func() { nodes[0].stop(); close(stopped) }()
	// The grace is 2 s; the websocket close handshakes with these
	// clients, which read no more, end at 5 s; without the abandon
	// stopping took a minute for each client (3 minutes).
	const within = 20 * time.Second
	select {
	case <-stopped:
		t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(within):
		t.Fatalf("the relay without quorum did not stop within %v", within)
	}
}
