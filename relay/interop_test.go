package relay

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psanford/wormhole-william/rendezvous"
)

// TestWormholeWilliamClient drives the server with wormhole-william's
// rendezvous client, as the Go wormhole clients (and Destiny) do.
//
// That client races with itself (v1.0.8): the goroutine behind MsgChan
// releases the nameplate through the websocket after it hands over the
// peer's first message, while Close sets the websocket to nil (client.go
// lines 432 and 461; -race reports it, and a release that comes late
// panics on the nil websocket). Its reading goroutine also rereads that
// field on every message. So this test drives it to a point where neither
// goroutine touches the client again: it waits until the server has seen
// both releases, makes one more call on each client (which takes the lock
// the release held, ordering the release before what follows), and then
// ends both connections by cancelling the context they were opened with
// instead of calling Close. wormhole-william's close, with its moods, is
// covered through its real CLI against ferry relay in cmd/ferry's
// text_william and files_william scripts, a process not under -race.
func TestWormholeWilliamClient(t *testing.T) {
	s, url := startServer(t, Config{MOTD: "hello from ferry"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	connCtx, hangUp := context.WithCancel(ctx)
	defer hangUp()

	a := rendezvous.NewClient(url, "aaaa0001", testApp)
	info, err := a.Connect(connCtx)
	if err != nil {
		t.Fatalf("A connect: %v", err)
	}
	if info.MOTD != "hello from ferry" {
		t.Errorf("MOTD = %q", info.MOTD)
	}
	nameplate, err := a.CreateMailbox(ctx)
	if err != nil {
		t.Fatalf("A CreateMailbox: %v", err)
	}
	if nameplate != "1" {
		t.Errorf("nameplate = %q, want 1", nameplate)
	}

	b := rendezvous.NewClient(url, "bbbb0002", testApp)
	if _, err := b.Connect(connCtx); err != nil {
		t.Fatalf("B connect: %v", err)
	}
	names, err := b.ListNameplates(ctx)
	if err != nil {
		t.Fatalf("B ListNameplates: %v", err)
	}
	if len(names) != 1 || names[0] != nameplate {
		t.Errorf("ListNameplates = %v, want [%s]", names, nameplate)
	}
	if err := b.AttachMailbox(ctx, nameplate); err != nil {
		t.Fatalf("B AttachMailbox: %v", err)
	}

	aMsgs, bMsgs := a.MsgChan(ctx), b.MsgChan(ctx)
	if err := a.AddMessage(ctx, "pake", "a1a1"); err != nil {
		t.Fatalf("A AddMessage: %v", err)
	}
	if err := b.AddMessage(ctx, "pake", "b1b1"); err != nil {
		t.Fatalf("B AddMessage: %v", err)
	}
	recv := func(name string, ch <-chan rendezvous.MailboxEvent, side, phase, body string) {
		t.Helper()
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("%s: message channel closed", name)
			}
			if ev.Error != nil || ev.Side != side || ev.Phase != phase || ev.Body != body {
				t.Fatalf("%s got %+v, want %s/%s/%s", name, ev, side, phase, body)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no message: %v", name, ctx.Err())
		}
	}
	recv("B", bMsgs, "aaaa0001", "pake", "a1a1")
	recv("A", aMsgs, "bbbb0002", "pake", "b1b1")
	// Each client released the nameplate on seeing the other's message:
	// the server drops it once both did.
	waitFor(t, "both clients to release the nameplate", func() bool { return !s.hasNameplate(testApp, nameplate) })
	if err := a.AddMessage(ctx, "0", "a2a2"); err != nil {
		t.Fatalf("A AddMessage: %v", err)
	}
	if err := b.AddMessage(ctx, "0", "b2b2"); err != nil {
		t.Fatalf("B AddMessage: %v", err)
	}
	recv("B", bMsgs, "aaaa0001", "0", "a2a2")
	recv("A", aMsgs, "bbbb0002", "0", "b2b2")
	s.state.mu.Lock()
	nps, mbs := s.state.store.counts()
	s.state.mu.Unlock()
	if nps != 0 || mbs != 1 {
		t.Errorf("server holds %d nameplates and %d mailboxes, want 0 and 1", nps, mbs)
	}
	hangUp()
}

// TestPythonWormholeCLI sends a text with Debian's magic-wormhole CLI
// through the server and receives it with the same CLI.
func TestPythonWormholeCLI(t *testing.T) {
	bin, err := exec.LookPath("wormhole")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("wormhole CLI not found and FERRY_REQUIRE_PEERS=1: %v", err)
		}
		t.Skip("wormhole (magic-wormhole CLI) is not installed")
	}
	for _, tc := range []struct {
		name string
		code string // "" lets the sender allocate a nameplate
	}{
		{"given code", "7-foo-bar"},
		{"allocated code", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, url := startServer(t, Config{})
			// Python clients start in about a second here, but in many
			// more when the machine is loaded (20 s ran out once, with
			// the text delivered, while both were shutting down).
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			home := t.TempDir()
			command := func(out *syncBuffer, args ...string) *exec.Cmd {
				cmd := exec.CommandContext(ctx, bin, append([]string{"--relay-url", url}, args...)...)
				cmd.Env = append(os.Environ(), "HOME="+home, "PYTHONDONTWRITEBYTECODE=1")
				cmd.Stdout, cmd.Stderr = out, out
				return cmd
			}
			const text = "hello through the ferry relay"
			sendArgs := []string{"send", "--text", text}
			if tc.code != "" {
				sendArgs = append(sendArgs, "--code", tc.code)
			}
			var sendOut, recvOut syncBuffer
			sender := command(&sendOut, sendArgs...)
			if err := sender.Start(); err != nil {
				t.Fatal(err)
			}
			sendDone := make(chan error, 1)
			go func() { sendDone <- sender.Wait() }()

			// Receive once the sender has claimed its nameplate, as a
			// person reading out the code would.
			code := tc.code
			codeRE := regexp.MustCompile(`Wormhole code is: (\S+)`)
			waitWithin(t, time.Minute, "the sender to claim its nameplate", func() bool {
				if code == "" {
					if m := codeRE.FindStringSubmatch(sendOut.String()); m != nil {
						code = m[1]
					}
				}
				nameplate, _, _ := strings.Cut(code, "-")
				return code != "" && s.hasNameplate(testApp, nameplate)
			})
			recvErr := command(&recvOut, "receive", "--only-text", "--hide-progress", code).Run()
			sendErr := <-sendDone
			if recvErr != nil || sendErr != nil {
				t.Fatalf("receive: %v\n%s\nsend: %v\n%s", recvErr, recvOut.String(), sendErr, sendOut.String())
			}
			if !strings.Contains(recvOut.String(), text) {
				t.Fatalf("receiver output lacks the text:\n%s", recvOut.String())
			}
			// Both clients release and close, leaving nothing behind.
			waitFor(t, "the nameplate and mailbox to be cleaned up", func() bool {
				s.state.mu.Lock()
				defer s.state.mu.Unlock()
				nps, mbs := s.state.store.counts()
				return nps == 0 && mbs == 0
			})
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a process to write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
