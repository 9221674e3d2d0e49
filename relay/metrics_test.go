package relay

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metric is the value of the sample of c named name whose labels are
// labels ("reason", "x" ...), failing the test if there is none.
func metric(t *testing.T, c prometheus.Collector, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

// lint fails the test if c's metrics break Prometheus's naming and
// documentation rules.
func lint(t *testing.T, c prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsMailbox: the mailbox server's metrics follow what clients
// do: connections, nameplates, mailboxes, messages and refusals by
// reason, and the pedantic registry accepts them (consistent
// descriptions, no duplicate samples).
func TestMetricsMailbox(t *testing.T) {
	s, url := startServer(t, Config{MaxConnsPerIP: 3, MaxMessagesPerMailbox: 2})
	lint(t, s)
	a, _ := dialIP(t, url, "127.0.0.2")
	b, _ := dialIP(t, url, "127.0.0.2")
	c, _ := dialIP(t, url, "127.0.0.2")
	a.bind("app", "aaaa")
	b.bind("app", "bbbb")
	c.bind("app", "cccc")
	np := a.request("allocated", "allocate")["nameplate"].(string)
	mb := a.request("claimed", "claim", "nameplate", np)["mailbox"].(string)
	b.request("claimed", "claim", "nameplate", np)
	if got := c.refused("claim", "nameplate", np); got != "crowded" {
		t.Fatalf("third claim: %q", got)
	}
	a.command("open", "mailbox", mb)
	a.command("add", "phase", "pake", "body", "00")
	a.expectMessage("aaaa", "pake", "00")
	a.command("add", "phase", "version", "body", "01")
	a.expectMessage("aaaa", "version", "01")
	if got := a.refused("add", "phase", "1", "body", "02"); got != "mailbox is full" {
		t.Fatalf("third add: %q", got)
	}
	if got := a.refused("nonsense"); got != "unknown type" {
		t.Fatalf("unknown command: %q", got)
	}
	// A fourth connection from the same address is turned away.
	if _, resp, err := dialFrom(t.Context(), url, "127.0.0.2"); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("fourth connection: %v %v", resp, err)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ferry_mailbox_connections", nil, 3},
		{"ferry_mailbox_connections_total", nil, 3},
		{"ferry_mailbox_nameplates", nil, 1},
		{"ferry_mailbox_mailboxes", nil, 1},
		{"ferry_mailbox_messages_total", nil, 2},
		{"ferry_mailbox_refusals_total", []string{"reason", refusedCrowded}, 1},
		{"ferry_mailbox_refusals_total", []string{"reason", refusedMailboxFull}, 1},
		{"ferry_mailbox_refusals_total", []string{"reason", refusedBadCommand}, 1},
		{"ferry_mailbox_refusals_total", []string{"reason", refusedConnsPerClient}, 1},
		{"ferry_mailbox_refusals_total", []string{"reason", refusedConns}, 0},
		{"ferry_mailbox_refusals_total", []string{"reason", reasonOther}, 0},
	} {
		if got := metric(t, s, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := metric(t, s, "ferry_mailbox_stored_bytes"); got <= 0 {
		t.Errorf("stored bytes = %v with two messages stored", got)
	}
}

// TestRefusalReasons: every refusal text the relay sends maps to its own
// reason, not to the catch-all ones.
func TestRefusalReasons(t *testing.T) {
	for text, want := range map[string]string{
		"permission denied":                     refusedPermission,
		"crowded":                               refusedCrowded,
		"reclaimed":                             refusedCrowded,
		"mailbox is full":                       refusedMailboxFull,
		"mailbox is closed":                     refusedMailboxClosed,
		"too many nameplates, try again later":  refusedNameplates,
		"too many mailboxes, try again later":   refusedNameplates,
		"too many nameplates from your network": refusedNameplatesPer,
		"relay is out of space for messages, try again later": refusedStorage,
		"too much stored from your address, try again later":  refusedStoragePer,
		"the relay is busy, try again":                        refusedBusy,
		"must bind first":                                     refusedBadCommand,
	} {
		if got := refusalReason(clientError(text)); got != want {
			t.Errorf("refusalReason(%q) = %q, want %q", text, got, want)
		}
	}
	if got := refusalReason(errSlowClient); got != reasonOther {
		t.Errorf("an internal error is %q", got)
	}
	for text, want := range map[string]string{
		"too many connections":                   refusedConns,
		"too many connections from your address": refusedConnsPerClient,
		"server is shutting down":                refusedShutdown,
	} {
		if got := admitReason(errorString(text)); got != want {
			t.Errorf("admitReason(%q) = %q, want %q", text, got, want)
		}
	}
	for why, want := range map[string]string{
		"the relay is shutting down":                      transitShutdown,
		"too many connections from this address":          transitConnsPer,
		"too many unpaired connections from this network": transitPendingPer,
		"too many unpaired connections":                   transitPending,
		"too many connections":                            transitConns,
		"too many connections waiting with this token":    transitTokenSpares,
		"token already relaying":                          transitTokenBusy,
	} {
		if got := transitAdmitReason(why); got != want {
			t.Errorf("transitAdmitReason(%q) = %q, want %q", why, got, want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestMetricsTransit: the transit relay counts pairs, relayed bytes and
// refused handshakes.
func TestMetricsTransit(t *testing.T) {
	r := startTransit(t, TransitConfig{})
	lint(t, r.srv)
	a, b := pair(t, r.addr)
	send(t, a, "hello")
	expectRead(t, b, "hello")
	send(t, b, "hi")
	expectRead(t, a, "hi")
	bad := dialTransit(t, r.addr)
	send(t, bad, "please dance\n")
	expectRead(t, bad, "bad handshake\n")
	if got := metric(t, r.srv, "ferry_transit_pairs"); got != 1 {
		t.Errorf("pairs = %v", got)
	}
	if got := metric(t, r.srv, "ferry_transit_pairs_total"); got != 1 {
		t.Errorf("pairs_total = %v", got)
	}
	if got := metric(t, r.srv, "ferry_transit_bytes_total"); got != 7 {
		t.Errorf("bytes_total = %v, want 7", got)
	}
	if got := metric(t, r.srv, "ferry_transit_connections", "kind", "tcp"); got < 2 {
		t.Errorf("tcp connections = %v", got)
	}
	if got := metric(t, r.srv, "ferry_transit_refusals_total", "reason", transitBadHandshake); got != 1 {
		t.Errorf("bad handshakes = %v", got)
	}
}

// TestMetricsTURN: the TURN server counts allocations and refusals by
// reason (an unknown user, a client over its allocation limit).
func TestMetricsTURN(t *testing.T) {
	cfg := turnTestConfig()
	cfg.MaxAllocationsPerIP = 1
	s := startICETest(t, cfg)
	lint(t, s)
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Fatalf("allocate: %v", err)
	}
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err == nil {
		t.Fatal("a second allocation from one address was allowed")
	}
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.3", "mallory", "looking-glass"); err == nil {
		t.Fatal("an unknown user was accepted")
	}
	if got := metric(t, s, "ferry_turn_allocations"); got != 1 {
		t.Errorf("allocations = %v", got)
	}
	if got := metric(t, s, "ferry_turn_allocations_total"); got != 1 {
		t.Errorf("allocations_total = %v", got)
	}
	if got := metric(t, s, "ferry_turn_refusals_total", "reason", turnRefusedPerClient); got != 1 {
		t.Errorf("per-client refusals = %v", got)
	}
	if got := metric(t, s, "ferry_turn_refusals_total", "reason", turnRefusedCredentials); got < 1 {
		t.Errorf("credential refusals = %v", got)
	}
	if got := metric(t, s, "ferry_turn_refusals_total", "reason", reasonOther); got != 0 {
		t.Errorf("other refusals = %v", got)
	}
}
