package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Client frames as real clients send them (server-protocol.rst; the Python
// client's _rendezvous.py, wormhole-william, ferry's internal/mailbox), as
// fuzz seeds. "B\t" sends a line from the second client.
var clientFrames = []string{
	`{"type":"bind","appid":"lothar.com/wormhole/text-or-file-xfer","side":"0123456789","client_version":["python","0.12.0"],"id":"a1b2"}`,
	`{"type":"list","id":"0001"}`,
	`{"type":"allocate","id":"0002"}`,
	`{"type":"claim","nameplate":"1","id":"0003"}`,
	`B	{"type":"bind","appid":"lothar.com/wormhole/text-or-file-xfer","side":"abcdef0123"}`,
	`B	{"type":"claim","nameplate":"1"}`,
	`{"type":"open","mailbox":"mbox1","id":"0004"}`,
	`{"type":"add","phase":"pake","body":"7b2270616b655f7631223a22353361626364227d","id":"0005"}`,
	`B	{"type":"open","mailbox":"mbox1"}`,
	`B	{"type":"add","phase":"0","body":"00"}`,
	`{"type":"add","phase":"version","body":"00ff","id":5}`,
	`{"type":"release","nameplate":"1","id":"0006"}`,
	`{"type":"close","mailbox":"mbox1","mood":"happy","id":"0007"}`,
	`B	{"type":"close","mood":"lonely"}`,
	`{"type":"ping","ping":7,"id":"0008"}`,
	`{"type":"submit-permissions","method":"hashcash","stamp":"1:6:210723:x::abc"}`,
	"{\"type\":\"ping\",\"ping\":\"\xff\xfeok\"}",
	`{"type":"claim","nameplate":7}`,
	`{"type":"bind","appid":"a","side":null}`,
	`{"id":"x"}`,
	`[1,2]`,
	`"bind"`,
	`{"type":"ping"`,
	``,
}

// FuzzParseFrame: parseFrame accepts exactly the JSON objects (after
// invalid UTF-8 is replaced), its echo is valid UTF-8 JSON equal to the
// frame, and every string field it returns re-encodes to the same value;
// token never returns an empty value or one over maxTokenLen bytes.
func FuzzParseFrame(f *testing.F) {
	for _, s := range clientFrames {
		f.Add([]byte(strings.TrimPrefix(s, "B\t")))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fixed := bytes.ToValidUTF8(frame, []byte("\uFFFD"))
		fields, orig, err := parseFrame(frame)
		var v any
		isJSON := json.Unmarshal(fixed, &v) == nil
		_, isObject := v.(map[string]any)
		if (err == nil) != (isJSON && isObject) {
			t.Fatalf("parseFrame(%q): err %v, but JSON %v object %v", frame, err, isJSON, isObject)
		}
		if isJSON && !sameJSON(orig, fixed) {
			t.Fatalf("echo %q of %q", orig, frame)
		}
		if orig != nil && !utf8.Valid(orig) {
			t.Fatalf("echo %q is not valid UTF-8", orig)
		}
		for key := range fields {
			s, ok, err := fields.str(key)
			if !ok {
				t.Fatalf("str(%q) says a present key is missing", key)
			}
			if err == nil {
				b, _ := json.Marshal(s)
				if !sameJSON(b, fields[key]) {
					t.Fatalf("str(%q) = %q from %s", key, s, fields[key])
				}
			}
			tok, err := fields.token(key, "missing")
			if err == nil && (tok == "" || len(tok) > maxTokenLen) {
				t.Fatalf("token(%q) = %q", key, tok)
			}
		}
	})
}

// FuzzClientFrames plays one or two hostile clients (a line starting "B\t"
// comes from the second) against the server's frame handler. Properties:
// every reply is a valid UTF-8 JSON object with a string type and a
// server_tx; a frame that is not a JSON object, or has no type, gets
// exactly one error; any other frame gets its ack first (echoing its id)
// and at most one error, last, whose orig is the frame; no reply says
// "internal server error"; a mailbox never holds more than its limits;
// every message delivered is one a client added; the connection's bound
// names respect maxTokenLen.
func FuzzClientFrames(f *testing.F) {
	f.Add([]byte(strings.Join(clientFrames, "\n")))
	for _, s := range clientFrames {
		f.Add([]byte(s))
	}
	cfg := Config{MaxMessagesPerMailbox: 8, MaxMailboxBytes: 2048, MaxNameplatesPerIP: 4, MaxFrameBytes: 4096, PingInterval: -1}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		conns := [2]*conn{newConn(srv, nil, clientKeyOf("192.0.2.1")), newConn(srv, nil, clientKeyOf("198.51.100.2"))}
		dropped := false
		for _, c := range conns {
			// what serve does; a drop is noted here (the callback runs
			// under the budget's lock) and fails the input below
			c.cancel = func(error) { dropped = true }
			c.queue.init(srv.bufs, srv.cfg.MaxSendQueueBytes, c.cancel)
			defer c.queue.close()
		}
		added := map[string]bool{}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			c, other := conns[0], conns[1]
			if rest, ok := bytes.CutPrefix(line, []byte("B\t")); ok {
				line, c, other = rest, conns[1], conns[0]
			}
			if len(line) > int(cfg.MaxFrameBytes) {
				continue // the websocket's read limit refuses it before handle
			}
			if fields, _, err := parseFrame(line); err == nil {
				if typ, _, _ := fields.str("type"); typ == "add" {
					if body, _, err := fields.str("body"); err == nil {
						added[body] = true
					}
				}
			}
			c.handle(line)
			if dropped {
				t.Fatal("the server dropped a client that reads everything")
			}
			replies := drain(t, c)
			checkReplies(t, line, replies)
			for _, r := range append(replies, drain(t, other)...) {
				if r["type"] == "message" {
					if body, _ := r["body"].(string); !added[body] {
						t.Fatalf("delivered a message with body %q that nobody added", body)
					}
				}
			}
			for _, c := range conns {
				if len(c.app) > maxTokenLen || len(c.side) > maxTokenLen || len(c.mailboxID) > maxTokenLen {
					t.Fatalf("bound names over %d bytes: %q %q %q", maxTokenLen, c.app, c.side, c.mailboxID)
				}
			}
			mbs, _ := srv.state.store.mailboxes()
			for _, mb := range mbs {
				if mb.Messages > srv.cfg.MaxMessagesPerMailbox || mb.Bytes > srv.cfg.MaxMailboxBytes || len(mb.Sides) > 2 {
					t.Fatalf("mailbox %q over its limits: %d messages, %d bytes, %d sides", mb.ID, mb.Messages, mb.Bytes, len(mb.Sides))
				}
			}
		}
	})
}

// drain takes the frames queued for c and decodes them, checking that each
// is a valid UTF-8 JSON object with a string type and a server_tx.
func drain(t *testing.T, c *conn) []map[string]any {
	t.Helper()
	var frames [][]byte
	for {
		c.queue.b.mu.Lock()
		n := len(c.queue.frames)
		c.queue.b.mu.Unlock()
		if n == 0 {
			break
		}
		f, _ := c.queue.pop(context.Background())
		c.queue.wrote()
		frames = append(frames, f)
	}
	var out []map[string]any
	for _, fr := range frames {
		var m map[string]any
		if !utf8.Valid(fr) || json.Unmarshal(fr, &m) != nil || m == nil {
			t.Fatalf("reply %q is not a valid UTF-8 JSON object", fr)
		}
		if _, ok := m["type"].(string); !ok {
			t.Fatalf("reply %s has no type", fr)
		}
		if _, ok := m["server_tx"].(float64); !ok {
			t.Fatalf("reply %s has no server_tx", fr)
		}
		out = append(out, m)
	}
	return out
}

// checkReplies checks the replies to one frame: ack first (unless the frame
// was refused outright), at most one error and only last, its orig the frame.
func checkReplies(t *testing.T, frame []byte, replies []map[string]any) {
	t.Helper()
	fixed := bytes.ToValidUTF8(frame, []byte("\uFFFD"))
	fields, _, err := parseFrame(frame)
	if err == nil && !fields.has("type") {
		err = clientError("missing 'type'")
	}
	if err != nil {
		if len(replies) != 1 || replies[0]["type"] != "error" || replies[0]["error"] != err.Error() {
			t.Fatalf("frame %q (%v) answered %v, want one error", frame, err, replies)
		}
		if json.Valid(fixed) && !sameValue(replies[0]["orig"], fixed) {
			t.Fatalf("frame %q: orig %v", frame, replies[0]["orig"])
		}
		return
	}
	if len(replies) == 0 || replies[0]["type"] != "ack" {
		t.Fatalf("frame %q answered %v, want an ack first", frame, replies)
	}
	id := fields["id"]
	if id == nil {
		id = json.RawMessage("null")
	}
	if !sameValue(replies[0]["id"], id) {
		t.Fatalf("frame %q acked with id %v", frame, replies[0]["id"])
	}
	for i, r := range replies[1:] {
		if r["type"] != "error" {
			continue
		}
		if i != len(replies)-2 {
			t.Fatalf("frame %q: an error is not the last reply: %v", frame, replies)
		}
		if r["error"] == "internal server error" {
			t.Fatalf("frame %q: internal server error", frame)
		}
		if !sameValue(r["orig"], fixed) {
			t.Fatalf("frame %q: orig %v", frame, r["orig"])
		}
	}
}

// sameJSON reports whether a and b are JSON texts of the same value.
func sameJSON(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

// sameValue reports whether the decoded value v is the JSON text b.
func sameValue(v any, b []byte) bool {
	var vb any
	return json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(v, vb)
}
