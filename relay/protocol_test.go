package relay

import (
	"math"
	"strings"
	"testing"
	"time"
)

const testApp = "lothar.com/wormhole/text-or-file-xfer"

func TestWelcome(t *testing.T) {
	_, url := startServer(t, Config{})
	_, w := dial(t, url)
	info, ok := w["welcome"].(map[string]any)
	if !ok {
		t.Fatalf("welcome = %v, want a welcome object", w)
	}
	if _, ok := info["error"]; ok {
		t.Errorf("welcome %v has an error key, which Python clients treat as fatal", w)
	}
	if _, ok := info["motd"]; ok {
		t.Errorf("welcome %v has a motd although none is configured", w)
	}
	if tx := w["server_tx"].(float64); math.Abs(tx-float64(time.Now().Unix())) > 60 {
		t.Errorf("server_tx %v is not seconds since the epoch", tx)
	}

	_, url = startServer(t, Config{MOTD: "be nice"})
	_, w = dial(t, url)
	if info := w["welcome"].(map[string]any); info["motd"] != "be nice" || info["error"] != nil {
		t.Errorf("welcome = %v, want motd \"be nice\" and no error", w)
	}
}

func TestAckThenResponse(t *testing.T) {
	_, url := startServer(t, Config{})
	c, _ := dial(t, url)
	c.write(map[string]any{"type": "ping", "id": "beef", "ping": 42})
	if m := c.expect("ack"); m["id"] != "beef" {
		t.Errorf("ack = %v, want id beef", m)
	}
	if m := c.expect("pong"); m["pong"] != float64(42) {
		t.Errorf("pong = %v, want 42", m)
	}
	// A command without an id is still acked, with a null id.
	c.write(map[string]any{"type": "ping", "ping": "x"})
	if m := c.expect("ack"); m["id"] != nil {
		t.Errorf("ack = %v, want a null id", m)
	}
	c.expect("pong")
	if got := c.refused("ping"); got != "ping requires 'ping'" {
		t.Errorf("ping without ping: %q", got)
	}
}

func TestMustBindFirst(t *testing.T) {
	_, url := startServer(t, Config{})
	c, _ := dial(t, url)
	for _, typ := range []string{"list", "allocate", "claim", "release", "open", "add", "close", "bogus"} {
		c.command(typ, "nameplate", "1", "mailbox", "x", "phase", "p", "body", "")
		m := c.expect("error")
		if m["error"] != "must bind first" {
			t.Errorf("%s before bind: %v", typ, m)
		}
		if orig, ok := m["orig"].(map[string]any); !ok || orig["type"] != typ {
			t.Errorf("%s before bind: orig = %v", typ, m["orig"])
		}
	}
	c.bind(testApp, "side1")
	if got := c.refused("bind", "appid", testApp, "side", "side2"); got != "already bound" {
		t.Errorf("second bind: %q", got)
	}
	if got := c.refused("bogus"); got != "unknown type" {
		t.Errorf("unknown type: %q", got)
	}
	d, _ := dial(t, url)
	if got := d.refused("bind", "side", "x"); got != "bind requires 'appid'" {
		t.Errorf("bind without appid: %q", got)
	}
	if got := d.refused("bind", "appid", "x"); got != "bind requires 'side'" {
		t.Errorf("bind without side: %q", got)
	}
}

func TestAllocateClaimOpenAddEcho(t *testing.T) {
	s, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	alloc := a.request("allocated", "allocate")
	if alloc["nameplate"] != "1" {
		t.Fatalf("allocated %v, want the lowest free nameplate 1", alloc)
	}
	mbox := a.request("claimed", "claim", "nameplate", "1")["mailbox"].(string)
	if mbox == "" {
		t.Fatal("claimed an empty mailbox id")
	}
	a.command("open", "mailbox", mbox)
	a.write(map[string]any{"type": "add", "id": "a001", "phase": "pake", "body": "aa01"})
	if m := a.expect("ack"); m["id"] != "a001" {
		t.Fatalf("add ack = %v", m)
	}
	echo := a.expectMessage("aaaa", "pake", "aa01")
	if echo["id"] != "a001" {
		t.Errorf("message %v does not carry the add's id", echo)
	}
	if _, ok := echo["server_rx"].(float64); !ok {
		t.Errorf("message %v has no server_rx", echo)
	}

	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	if got := b.request("claimed", "claim", "nameplate", "1")["mailbox"]; got != mbox {
		t.Fatalf("second side claimed mailbox %v, want %v", got, mbox)
	}
	b.command("open", "mailbox", mbox)
	b.expectMessage("aaaa", "pake", "aa01") // the backlog
	b.command("add", "phase", "pake", "body", "bb01")
	b.expectMessage("bbbb", "pake", "bb01")
	a.expectMessage("bbbb", "pake", "bb01")
	a.command("add", "phase", "0", "body", "aa02")
	a.expectMessage("aaaa", "0", "aa02")
	b.expectMessage("aaaa", "0", "aa02")

	a.request("released", "release")
	b.request("released", "release", "nameplate", "1")
	if s.hasNameplate(testApp, "1") {
		t.Error("nameplate survived both releases")
	}
	a.request("closed", "close", "mood", "happy")
	if !s.hasMailbox(testApp, mbox) {
		t.Error("mailbox deleted while the other side still has it open")
	}
	b.request("closed", "close", "mailbox", mbox, "mood", "happy")
	if s.hasMailbox(testApp, mbox) {
		t.Error("mailbox survived both closes")
	}
	if got := a.refused("add", "phase", "1", "body", ""); got != "must open mailbox before adding" {
		t.Errorf("add after close: %q", got)
	}
}

func TestList(t *testing.T) {
	_, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	if got := a.request("nameplates", "list")["nameplates"].([]any); len(got) != 0 {
		t.Errorf("list on an empty server = %v", got)
	}
	a.request("allocated", "allocate")
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.request("claimed", "claim", "nameplate", "10")
	c, _ := dial(t, url)
	c.bind("other-app", "cccc")
	c.request("claimed", "claim", "nameplate", "5")

	got := a.request("nameplates", "list")["nameplates"].([]any)
	var ids []string
	for _, n := range got {
		ids = append(ids, n.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "1,10" {
		t.Errorf("list = %v, want nameplates 1 and 10 of this app only", got)
	}
	// The next allocation takes the lowest free number.
	d, _ := dial(t, url)
	d.bind(testApp, "dddd")
	if got := d.request("allocated", "allocate")["nameplate"]; got != "2" {
		t.Errorf("allocated %v, want 2", got)
	}
}

func TestRelease(t *testing.T) {
	s, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	if got := a.refused("release"); got != "release without nameplate must follow claim" {
		t.Errorf("release before claim: %q", got)
	}
	a.request("claimed", "claim", "nameplate", "4")
	if got := a.refused("release", "nameplate", "5"); got != "release and claim must use same nameplate" {
		t.Errorf("release of another nameplate: %q", got)
	}
	a.request("released", "release", "nameplate", "4")
	if got := a.refused("release"); got != "only one release per connection" {
		t.Errorf("second release: %q", got)
	}
	if s.hasNameplate(testApp, "4") {
		t.Error("nameplate survived its only claimer's release")
	}
	// Releasing something never claimed is harmless.
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.request("released", "release", "nameplate", "77")
}

func TestOnePerConnection(t *testing.T) {
	_, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	a.request("allocated", "allocate")
	if got := a.refused("allocate"); got != "you already allocated one, don't be greedy" {
		t.Errorf("second allocate: %q", got)
	}
	mbox := a.request("claimed", "claim", "nameplate", "1")["mailbox"]
	if got := a.refused("claim", "nameplate", "2"); got != "only one claim per connection" {
		t.Errorf("second claim: %q", got)
	}
	if got := a.refused("claim"); got != "claim requires 'nameplate'" {
		t.Errorf("claim without nameplate: %q", got)
	}
	if got := a.refused("open"); got != "open requires 'mailbox'" {
		t.Errorf("open without mailbox: %q", got)
	}
	if got := a.refused("close"); got != "close without mailbox must follow open" {
		t.Errorf("close before open: %q", got)
	}
	a.command("open", "mailbox", mbox)
	if got := a.refused("open", "mailbox", mbox); got != "only one open per connection" {
		t.Errorf("second open: %q", got)
	}
	if got := a.refused("add", "body", "00"); got != "missing 'phase'" {
		t.Errorf("add without phase: %q", got)
	}
	if got := a.refused("add", "phase", "x"); got != "missing 'body'" {
		t.Errorf("add without body: %q", got)
	}
	if got := a.refused("close", "mailbox", "elsewhere"); got != "open and close must use same mailbox" {
		t.Errorf("close of another mailbox: %q", got)
	}
	a.request("closed", "close")
	if got := a.refused("close"); got != "only one close per connection" {
		t.Errorf("second close: %q", got)
	}
}

func TestNameplateValidation(t *testing.T) {
	_, url := startServer(t, Config{})
	for _, bad := range []any{"abc", "", "12a", strings.Repeat("1", 41), "-1", "١٢"} {
		c, _ := dial(t, url)
		c.bind(testApp, "aaaa")
		if got := c.refused("claim", "nameplate", bad); got != "nameplate must be 1 to 40 digits" {
			t.Errorf("claim %q: %q", bad, got)
		}
	}
	c, _ := dial(t, url)
	c.bind(testApp, "aaaa")
	c.request("claimed", "claim", "nameplate", strings.Repeat("9", 40))
}

func TestCrowded(t *testing.T) {
	s, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	mbox := a.request("claimed", "claim", "nameplate", "3")["mailbox"]
	a.command("open", "mailbox", mbox)
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.request("claimed", "claim", "nameplate", "3")
	b.command("open", "mailbox", mbox)
	b.sync() // B's open is handled before C tries to be a third side

	c, _ := dial(t, url)
	c.bind(testApp, "cccc")
	if got := c.refused("claim", "nameplate", "3"); got != "crowded" {
		t.Errorf("third side's claim: %q", got)
	}
	if got := c.refused("open", "mailbox", mbox); got != "crowded" {
		t.Errorf("third side's open: %q", got)
	}
	if got := c.refused("close", "mailbox", mbox); got != "crowded" {
		t.Errorf("third side's close: %q", got)
	}
	// The crowd must not disturb the two sides, nor keep their state
	// alive once they are done.
	a.command("add", "phase", "pake", "body", "01")
	a.expectMessage("aaaa", "pake", "01")
	b.expectMessage("aaaa", "pake", "01")
	a.request("released", "release")
	b.request("released", "release")
	a.request("closed", "close")
	b.request("closed", "close")
	if s.hasNameplate(testApp, "3") || s.hasMailbox(testApp, mbox.(string)) {
		t.Error("a crowded nameplate or mailbox outlived its two sides")
	}
}

func TestReclaimed(t *testing.T) {
	_, url := startServer(t, Config{})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	mbox := a.request("claimed", "claim", "nameplate", "8")["mailbox"]
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.request("claimed", "claim", "nameplate", "8")
	a.request("released", "release")

	a2, _ := dial(t, url)
	a2.bind(testApp, "aaaa")
	if got := a2.refused("claim", "nameplate", "8"); got != "reclaimed" {
		t.Errorf("claim after release: %q", got)
	}
	// A side that did not release may claim again from a new connection.
	b2, _ := dial(t, url)
	b2.bind(testApp, "bbbb")
	if got := b2.request("claimed", "claim", "nameplate", "8")["mailbox"]; got != mbox {
		t.Errorf("re-claim gave mailbox %v, want %v", got, mbox)
	}
}

func TestPingBeforeBind(t *testing.T) {
	_, url := startServer(t, Config{})
	c, _ := dial(t, url)
	c.sync()
	c.write(map[string]any{"type": "ping", "id": "1", "ping": map[string]any{"nested": []any{1, "two"}}})
	c.expect("ack")
	if p, ok := c.expect("pong")["pong"].(map[string]any); !ok || p["nested"] == nil {
		t.Errorf("pong did not echo the ping value verbatim: %v", p)
	}
}

func TestMailboxLimits(t *testing.T) {
	_, url := startServer(t, Config{MaxMessagesPerMailbox: 3, MaxMailboxBytes: 1000})
	a, _ := dial(t, url)
	a.bind(testApp, "aaaa")
	a.command("open", "mailbox", "mbx")
	for i := range 3 {
		a.command("add", "phase", "p", "body", "00")
		a.expectMessage("aaaa", "p", "00")
		_ = i
	}
	if got := a.refused("add", "phase", "p", "body", "00"); got != "mailbox is full" {
		t.Errorf("fourth add: %q", got)
	}
	b, _ := dial(t, url)
	b.bind(testApp, "bbbb")
	b.command("open", "mailbox", "other")
	if got := b.refused("add", "phase", "p", "body", strings.Repeat("0", 1001)); got != "mailbox is full" {
		t.Errorf("oversized add: %q", got)
	}
	b.command("add", "phase", "p", "body", strings.Repeat("0", 900))
	b.expect("message")
}
