package wormhole

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
	"github.com/psanford/wormhole-william/rendezvous/rendezvousservertest"
)

func testServer(t *testing.T) string {
	t.Helper()
	ts := rendezvousservertest.NewServer()
	t.Cleanup(ts.Close)
	return ts.WebSocketURL()
}

func dial(t *testing.T, ctx context.Context, url string) *Wormhole {
	t.Helper()
	w, err := Dial(ctx, Config{RelayURL: url, AppVersions: map[string]any{"ferry": map[string]any{"protocol": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestExchange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := testServer(t)
	a, b := dial(t, ctx, url), dial(t, ctx, url)
	code, err := a.AllocateCode(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(code, "-"); len(parts) != 3 {
		t.Fatalf("code %q does not have a nameplate and two words", code)
	}
	if err := b.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []*Wormhole{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Establish(ctx) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !bytes.Equal(a.Verifier(), b.Verifier()) || len(a.Verifier()) != 32 {
		t.Fatal("verifiers differ")
	}
	if !bytes.Equal(a.Key("x", 32), b.Key("x", 32)) {
		t.Fatal("derived keys differ")
	}
	if _, ok := b.PeerVersions()["ferry"]; !ok {
		t.Fatalf("peer versions %v lack ferry", b.PeerVersions())
	}
	// numbered phases arrive in order, both ways
	for i := range 5 {
		if err := a.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		got, err := b.Receive(ctx)
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("phase %d: %v %v", i, got, err)
		}
	}
	if err := b.SendJSON(ctx, map[string]string{"answer": "ok"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Receive(ctx); err != nil || string(got) != `{"answer":"ok"}` {
		t.Fatalf("reply: %s %v", got, err)
	}
	if err := a.Close(ctx, Happy); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx, Happy); err != nil {
		t.Fatal(err)
	}
}

func TestWrongCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := testServer(t)
	a, b := dial(t, ctx, url), dial(t, ctx, url)
	if err := a.UseCode(ctx, "5-right-code"); err != nil {
		t.Fatal(err)
	}
	if err := b.UseCode(ctx, "5-wrong-code"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- a.Establish(ctx) }()
	go func() { errs <- b.Establish(ctx) }()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrWrongCode) {
			t.Fatalf("Establish = %v, want ErrWrongCode", err)
		}
	}
	a.Close(ctx, Scary)
	b.Close(ctx, Scary)
}

func TestCrowded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := testServer(t)
	for i := range 2 {
		w := dial(t, ctx, url)
		if err := w.UseCode(ctx, "9-a-b"); err != nil {
			t.Fatalf("side %d: %v", i, err)
		}
		defer w.Close(ctx, Lonely)
	}
	third := dial(t, ctx, url)
	defer third.Close(ctx, Lonely)
	err := third.UseCode(ctx, "9-a-b")
	if !errors.Is(err, ErrWrongCode) {
		t.Fatalf("third side: %v, want ErrWrongCode (crowded)", err)
	}
}

// TestGarbageFromPeer has a hostile peer post malformed pake, version and
// phase bodies: the honest side must fail with an error, never panic.
func TestGarbageFromPeer(t *testing.T) {
	cases := map[string][]struct{ phase, body string }{
		"pake not json":   {{"pake", "nope"}},
		"pake not hex":    {{"pake", `{"pake_v1":"zz"}`}},
		"pake short":      {{"pake", `{"pake_v1":"53"}`}},
		"pake empty":      {{"pake", `{}`}},
		"pake wrong side": {{"pake", `{"pake_v1":"41` + strings.Repeat("00", 32) + `"}`}},
	}
	for name, msgs := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			url := testServer(t)
			w := dial(t, ctx, url)
			defer w.Close(ctx, Scary)
			if err := w.UseCode(ctx, "3-x-y"); err != nil {
				t.Fatal(err)
			}
			evil := rawPeer(t, ctx, url, "3")
			for _, m := range msgs {
				if err := evil.Add(ctx, m.phase, []byte(m.body)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Establish(ctx); !errors.Is(err, ErrWrongCode) {
				t.Fatalf("Establish = %v, want ErrWrongCode", err)
			}
		})
	}
}

// TestShortVersionBody: a valid pake followed by a version body shorter
// than a nonce must be refused as a wrong code, not sliced.
func TestShortVersionBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := testServer(t)
	w := dial(t, ctx, url)
	defer w.Close(ctx, Scary)
	if err := w.UseCode(ctx, "4-x-y"); err != nil {
		t.Fatal(err)
	}
	// an honest pake, made by a second Wormhole whose mailbox we then abuse
	peer := dial(t, ctx, url)
	defer peer.Close(ctx, Scary)
	if err := peer.UseCode(ctx, "4-x-y"); err != nil {
		t.Fatal(err)
	}
	if err := peer.mb.Add(ctx, "version", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.Establish(ctx); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("Establish = %v, want ErrWrongCode", err)
	}
}

func rawPeer(t *testing.T, ctx context.Context, url, nameplate string) *mailbox.Client {
	t.Helper()
	return rawPeerSide(t, ctx, url, nameplate, "evil000000")
}

// rawPeerSide is a bare mailbox client bound as side, in nameplate's mailbox.
func rawPeerSide(t *testing.T, ctx context.Context, url, nameplate, side string) *mailbox.Client {
	t.Helper()
	c, _, err := mailbox.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(ctx, AppID, side, [2]string{"evil", "0"}); err != nil {
		t.Fatal(err)
	}
	mb, err := c.Claim(ctx, nameplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(ctx, mb); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseCode(t *testing.T) {
	good := map[string]string{"7-guitarist-revenge": "7", "123-a": "123", "4-a-b-c-d": "4"}
	for code, np := range good {
		if got, err := ParseCode(code); err != nil || got != np {
			t.Errorf("ParseCode(%q) = %q, %v", code, got, err)
		}
	}
	for _, code := range []string{"", "7", "7-", "-a-b", "x-a-b", "7 -a", "7-a b", "7-a\x1b[2J", strings.Repeat("1", 41) + "-a", "7-" + strings.Repeat("a", 300)} {
		if _, err := ParseCode(code); err == nil {
			t.Errorf("ParseCode(%q) succeeded", code)
		}
	}
	var np *NameplateError
	if _, err := ParseCode("abc-foo-bar"); !errors.As(err, &np) || np.Nameplate != "abc" || !strings.Contains(err.Error(), "must be digits") {
		t.Errorf("ParseCode(abc-foo-bar) = %v, want a NameplateError naming the rule", err)
	}
}
