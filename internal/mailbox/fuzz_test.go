package mailbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Frames a real server sends (server-protocol.rst, and what relay/ and
// wormhole-william's test server send), as the fuzz seeds.
var serverFrames = []string{
	`{"type":"welcome","welcome":{"motd":"hi","current_cli_version":"0.12.0"},"server_tx":1735787045.0}`,
	`{"type":"welcome","welcome":{"error":"go away"},"server_tx":1.5}`,
	`{"type":"welcome","welcome":{"permission-required":{"none":{},"hashcash":{"bits":6,"resource":"x"}},"your-address":{"ipv4":"192.0.2.1","port":4000}}}`,
	`{"type":"ack","id":"abcd","server_tx":1735787045.1}`,
	`{"type":"ack","id":null,"server_tx":1735787045.1}`,
	`{"type":"claimed","mailbox":"mb0123456789","server_tx":1735787045.2}`,
	`{"type":"allocated","nameplate":"4","server_tx":1735787045.2}`,
	`{"type":"nameplates","nameplates":[{"id":"1"},{"id":"22"}],"server_tx":1.0}`,
	`{"type":"message","side":"0123456789","phase":"pake","body":"7b2270616b655f7631223a22353361626364227d","id":"abcd","server_rx":1.0,"server_tx":1.1}`,
	`{"type":"message","side":"0123456789","phase":"0","body":"ABCDEF","id":null}`,
	`{"type":"message","side":"x","phase":"1","body":"abc"}`,
	`{"type":"error","error":"crowded","orig":{"type":"claim","id":"abcd","nameplate":"4"},"server_tx":1.2}`,
	`{"type":"error","error":"must bind first","orig":{"type":"list","id":"ffff"}}`,
	`{"type":"error","error":"message is not valid JSON","orig":null}`,
	`{"type":"error","error":"\u001b[2J\u001b]0;pwned\u0007 bidi \u202e","orig":{"id":"0000"}}`,
	`{"type":"welcome","welcome":{"error":"closed\r\n\u001b[31mfake prompt"}}`,
	`{"type":"released"}`,
	`{"type":"closed"}`,
	`{"type":"pong","pong":7}`,
	`{"type":5}`,
	`[1,2]`,
	`not json`,
}

// FuzzServerFrames feeds frames (one per line) from a hostile mailbox
// server to the client's frame handler. Properties: a message frame with a
// hex body is queued with exactly its side, phase and decoded body, and
// one without is dropped; the queue never holds more than maxQueued
// messages, and the frame that would overflow it ends the connection; an
// error frame either goes to the command in flight (its id, or none) or
// ends the connection with the server's text; an ack counts only with the
// command's id; Next returns the queued messages in order; a welcome
// either yields its motd or refuses with its error text.
func FuzzServerFrames(f *testing.F) {
	f.Add([]byte(strings.Join(serverFrames, "\n")))
	// a flood: one message more than the queue takes
	f.Add([]byte(strings.Repeat(`{"type":"message","side":"s","phase":"0","body":"00"}`+"\n", maxQueued+1)))
	for _, s := range serverFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Client{log: slog.New(slog.DiscardHandler), notify: make(chan struct{}, 1), done: make(chan struct{})}
		welcome := make(chan frame, 1)
		newWaiter := func() *waiter {
			w := &waiter{id: "abcd", want: "claimed", result: make(chan frame, 1)}
			c.waiter = w
			return w
		}
		w := newWaiter()
		var want []Message
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			var fr frame
			parsed := json.Unmarshal(line, &fr) == nil
			acked := w.acked
			err := c.handle(line, welcome)
			if err != nil && !printable(err.Error()) {
				t.Fatalf("frame %q: error %q would reach the terminal with control characters", line, err)
			}
			if len(c.queue) > maxQueued {
				t.Fatalf("queue holds %d messages, more than %d", len(c.queue), maxQueued)
			}
			if !parsed {
				if err != nil || len(c.queue) != len(want) {
					t.Fatalf("unparsable frame %q: err %v, queue %d (was %d)", line, err, len(c.queue), len(want))
				}
				continue
			}
			switch fr.Type {
			case "message":
				body, herr := hex.DecodeString(fr.Body)
				switch {
				case herr != nil:
					if err != nil || len(c.queue) != len(want) {
						t.Fatalf("non-hex body %q was not dropped: err %v", fr.Body, err)
					}
				case len(want) == maxQueued:
					if err == nil {
						t.Fatalf("message %d past the queue's cap did not end the connection", len(want)+1)
					}
					return
				default:
					want = append(want, Message{Side: fr.Side, Phase: fr.Phase, Body: body})
					got := c.queue[len(c.queue)-1]
					if err != nil || len(c.queue) != len(want) || got.Side != fr.Side || got.Phase != fr.Phase ||
						!bytes.Equal(got.Body, body) || hex.EncodeToString(got.Body) != strings.ToLower(fr.Body) {
						t.Fatalf("frame %q queued as %+v (err %v)", line, got, err)
					}
				}
			case "error":
				var orig map[string]any
				_ = json.Unmarshal(fr.Orig, &orig)
				if id, ok := stringField(orig, "id"); ok && id == w.id && err != nil {
					t.Fatalf("error frame %q for the command in flight ended the connection: %v", line, err)
				}
				if err != nil {
					var se *ServerError
					if !errors.As(err, &se) || se.Msg != fr.Error {
						t.Fatalf("error frame %q ended the connection with %v", line, err)
					}
					return
				}
				select {
				case r := <-w.result:
					if r.Type != "error" || r.Error != fr.Error || c.waiter != nil {
						t.Fatalf("error frame %q delivered as %+v", line, r)
					}
				default:
					t.Fatalf("error frame %q neither delivered nor fatal", line)
				}
				w = newWaiter()
			case "welcome":
				if err != nil {
					t.Fatalf("welcome frame: %v", err)
				}
				checkWelcome(t, <-welcome)
			default:
				if err != nil {
					t.Fatalf("frame %q: %v", line, err)
				}
				select {
				case r := <-w.result:
					if !acked || r.Type != "claimed" || c.waiter != nil {
						t.Fatalf("frame %q answered the command before its ack: %+v", line, r)
					}
					w = newWaiter()
				default:
					if fr.Type == "ack" && w.acked != (acked || fr.ID == w.id) {
						t.Fatalf("ack %q: acked %v", line, w.acked)
					}
				}
			}
			if len(c.queue) != len(want) {
				t.Fatalf("frame %q: queue %d, want %d", line, len(c.queue), len(want))
			}
		}
		for i, m := range want {
			got, err := c.Next(context.Background())
			if err != nil || got.Side != m.Side || got.Phase != m.Phase || !bytes.Equal(got.Body, m.Body) {
				t.Fatalf("Next %d = %+v, %v; want %+v", i, got, err, m)
			}
		}
	})
}

// checkWelcome: parseWelcome returns the motd and version of a welcome
// object, and refuses one with an error as a *ServerError with its text.
func checkWelcome(t *testing.T, f frame) {
	t.Helper()
	w, err := parseWelcome(f.Welcome)
	if err != nil && !printable(err.Error()) {
		t.Fatalf("welcome %s: error %q would reach the terminal with control characters", f.Welcome, err)
	}
	var body map[string]any
	if len(f.Welcome) > 0 && json.Unmarshal(f.Welcome, &body) != nil {
		if err == nil {
			t.Fatalf("welcome %s is not an object but parsed as %+v", f.Welcome, w)
		}
		return
	}
	text, ok1 := stringField(body, "error")
	motd, ok2 := stringField(body, "motd")
	ver, ok3 := stringField(body, "current_cli_version")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	var se *ServerError
	switch {
	case text != "" && (!errors.As(err, &se) || se.Msg != text):
		t.Fatalf("welcome %s with error %q: %v", f.Welcome, text, err)
	case text == "" && err == nil && (w.MOTD != motd || w.CurrentCLIVersion != ver):
		t.Fatalf("welcome %s parsed as %+v", f.Welcome, w)
	}
}

// stringField returns m[key] when it is a string (else "") and whether the
// object spells key at most once: encoding/json matches keys without
// regard to case, so an oracle can only judge objects that do.
func stringField(m map[string]any, key string) (string, bool) {
	n := 0
	for k := range m {
		if strings.EqualFold(k, key) {
			n++
		}
	}
	s, _ := m[key].(string)
	return s, n <= 1
}

// printable reports whether s is valid UTF-8 with only printable
// characters: nothing a terminal would act on.
//
// Spaces other than U+0020 (category Zs: no-break, en, ideographic) are
// shown, as the escape package keeps them: they are visible blanks, not
// controls; line and paragraph separators are not.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) && !unicode.Is(unicode.Zs, r)
	})
}
