package nat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const (
	goodUfrag = "abcdEFGH"
	goodPwd   = "0123456789abcdefghijkl+/"
)

func hostCandidate(ip string, port int) string {
	return fmt.Sprintf("candidate:1 1 udp 2130706431 %s %d typ host", ip, port)
}

func TestApplyRefusesBadCandidates(t *testing.T) {
	a := newTestAgent(t, Config{})
	bad := map[string]string{
		"empty":            "",
		"garbage":          "garbage",
		"truncated":        "candidate:1 1 udp",
		"no type":          "1 1 udp 2130706431 192.0.2.1 4000",
		"unknown type":     "1 1 udp 2130706431 192.0.2.1 4000 typ wat",
		"port zero":        hostCandidate("192.0.2.1", 0),
		"port too big":     hostCandidate("192.0.2.1", 99999),
		"hostname":         hostCandidate("evil.example.com", 4000),
		"mdns while off":   hostCandidate("f00d.local", 4000),
		"loopback":         hostCandidate("127.0.0.1", 4000),
		"unspecified":      hostCandidate("0.0.0.0", 4000),
		"this network":     hostCandidate("0.1.2.3", 4000),
		"broadcast":        hostCandidate("255.255.255.255", 4000),
		"multicast":        hostCandidate("224.0.0.251", 5353),
		"mapped loopback":  hostCandidate("::ffff:127.0.0.1", 4000),
		"prflx":            "1 1 udp 1845501695 192.0.2.1 4000 typ prflx raddr 0.0.0.0 rport 0",
		"rtcp component":   "1 2 udp 2130706431 192.0.2.1 4000 typ host",
		"control byte":     hostCandidate("192.0.2.1", 4000) + "\x00",
		"newline":          hostCandidate("192.0.2.1", 4000) + "\ncandidate:2 1 udp 1 192.0.2.2 4000 typ host",
		"utf-8":            hostCandidate("192.0.2.1", 4000) + " ü",
		"too long":         hostCandidate("192.0.2.1", 4000) + " x " + strings.Repeat("y", MaxCandidateLen),
		"negative prio":    "1 1 udp -5 192.0.2.1 4000 typ host",
		"long foundation":  strings.Repeat("f", 40) + " 1 udp 1 192.0.2.1 4000 typ host",
		"bad raddr":        "1 1 udp 1694498815 198.51.100.1 4000 typ srflx raddr nonsense rport x",
		"huge component":   "1 99999999999 udp 1 192.0.2.1 4000 typ host",
		"huge priority":    "1 1 udp 99999999999999999999 192.0.2.1 4000 typ host",
		"invalid suffix":   hostCandidate("x.invalid", 4000),
		"relay hostname":   "1 1 udp 16777215 turn.example.com 4000 typ relay raddr 0.0.0.0 rport 0",
		"srflx multicast":  "1 1 udp 1694498815 239.1.1.1 4000 typ srflx raddr 0.0.0.0 rport 0",
		"relay unspecifed": "1 1 udp 16777215 0.0.0.0 4000 typ relay raddr 0.0.0.0 rport 0",
	}
	for name, c := range bad {
		err := a.Apply(Signal{Candidates: []string{c}})
		if !isErr(err, ErrBadCandidate) {
			t.Errorf("%s: Apply(%q) = %v, want ErrBadCandidate", name, c, err)
		}
	}
	if got := remoteCount(t, a); got != 0 {
		t.Errorf("%d refused candidates reached ice", got)
	}
}

func TestApplyAcceptsGoodCandidates(t *testing.T) {
	a := newTestAgent(t, Config{})
	good := []string{
		hostCandidate("192.168.1.20", 50000),
		"candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 192.168.1.20 rport 50000 generation 0 ufrag abcd network-cost 999",
		"3 1 udp 16777215 198.51.100.9 3478 typ relay raddr 203.0.113.7 rport 61234",
		hostCandidate("10.0.0.1", 4000) + " ufrag XYZ generation 0",
	}
	for _, c := range good {
		if err := a.Apply(Signal{Candidates: []string{c}}); err != nil {
			t.Errorf("Apply(%q): %v", c, err)
		}
	}
	// Well-formed but unusable here (a newer peer may send them): ignored.
	ignored := []string{
		"1 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active",
		"1 1 tcp 1518280447 192.168.1.20 50000 typ host tcptype passive",
		hostCandidate("2001:db8::1", 4000),
	}
	for _, c := range ignored {
		if err := a.Apply(Signal{Candidates: []string{c}}); err != nil {
			t.Errorf("Apply(%q): %v, want it ignored", c, err)
		}
	}
	if got := waitRemoteCount(t, a, len(good)); got != len(good) {
		t.Errorf("ice has %d remote candidates, want %d", got, len(good))
	}
}

func TestApplyCapsCandidates(t *testing.T) {
	a := newTestAgent(t, Config{})
	for i := range MaxRemoteCandidates {
		c := hostCandidate(fmt.Sprintf("192.0.2.%d", i+1), 4000)
		if err := a.Apply(Signal{Candidates: []string{c}}); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
		// Repeats do not count against the limit.
		if err := a.Apply(Signal{Candidates: []string{c}}); err != nil {
			t.Fatalf("repeat of candidate %d: %v", i, err)
		}
	}
	for i := range 10 {
		c := hostCandidate("198.51.100.1", 4000+i)
		if err := a.Apply(Signal{Candidates: []string{c}}); !isErr(err, ErrTooManyCandidates) {
			t.Fatalf("candidate beyond the limit: got %v, want ErrTooManyCandidates", err)
		}
	}
	if got := waitRemoteCount(t, a, MaxRemoteCandidates); got != MaxRemoteCandidates {
		t.Errorf("ice has %d remote candidates, want %d", got, MaxRemoteCandidates)
	}
	big := make([]string, MaxRemoteCandidates+1)
	for i := range big {
		big[i] = hostCandidate("203.0.113.1", 1000+i)
	}
	if err := newTestAgent(t, Config{}).Apply(Signal{Candidates: big}); !isErr(err, ErrTooManyCandidates) {
		t.Errorf("oversized signal: got %v, want ErrTooManyCandidates", err)
	}
}

func TestApplyAfterDone(t *testing.T) {
	a := newTestAgent(t, Config{})
	if err := a.Apply(Signal{Candidates: []string{hostCandidate("192.0.2.1", 1)}, Done: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(Signal{Candidates: []string{hostCandidate("192.0.2.2", 1)}}); !isErr(err, ErrBadCandidate) {
		t.Errorf("candidate after done: got %v, want ErrBadCandidate", err)
	}
}

func TestApplyCredentials(t *testing.T) {
	bad := []Signal{
		{Ufrag: "abc", Pwd: goodPwd},                        // ufrag too short
		{Ufrag: goodUfrag, Pwd: "short"},                    // pwd too short
		{Ufrag: goodUfrag},                                  // no pwd
		{Pwd: goodPwd},                                      // no ufrag
		{Ufrag: "abc:defg", Pwd: goodPwd},                   // ':' would split the STUN username
		{Ufrag: goodUfrag, Pwd: goodPwd + " "},              // not an ice-char
		{Ufrag: strings.Repeat("u", 257), Pwd: goodPwd},     // too long
		{Ufrag: goodUfrag, Pwd: strings.Repeat("p", 1<<16)}, // far too long
	}
	for _, s := range bad {
		a := newTestAgent(t, Config{})
		if err := a.Apply(s); !isErr(err, ErrBadCredentials) {
			t.Errorf("Apply(%.60q/%.60q) = %v, want ErrBadCredentials", s.Ufrag, s.Pwd, err)
		}
	}
	a := newTestAgent(t, Config{})
	if err := a.Apply(Signal{Ufrag: goodUfrag, Pwd: goodPwd}); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(Signal{Ufrag: goodUfrag, Pwd: goodPwd}); err != nil {
		t.Errorf("repeating the same credentials: %v", err)
	}
	if err := a.Apply(Signal{Ufrag: "otherUfrag", Pwd: goodPwd}); !isErr(err, ErrBadCredentials) {
		t.Errorf("changing credentials: got %v, want ErrBadCredentials", err)
	}
}

// TestApplyRandomInput throws mutated candidates and random bytes at Apply:
// it must never panic, and whatever it accepts must stay under the cap.
func TestApplyRandomInput(t *testing.T) {
	a := newTestAgent(t, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	seed := []byte("candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 192.168.1.20 rport 50000 generation 0")
	for range 5000 {
		var raw []byte
		if rng.IntN(4) == 0 {
			raw = make([]byte, rng.IntN(80))
			for i := range raw {
				raw[i] = byte(rng.UintN(256))
			}
		} else {
			raw = append([]byte(nil), seed...)
			for range 1 + rng.IntN(4) {
				i := rng.IntN(len(raw))
				switch rng.IntN(3) {
				case 0:
					raw[i] = " 0123456789.:abctyphostsrflxrelayudp"[rng.IntN(36)]
				case 1:
					raw = append(raw[:i], raw[i+1:]...)
				default:
					raw = append(raw[:i], append([]byte{byte(rng.UintN(128))}, raw[i:]...)...)
				}
			}
		}
		_ = a.Apply(Signal{Candidates: []string{string(raw)}})
	}
	if got := remoteCount(t, a); got > MaxRemoteCandidates {
		t.Errorf("ice has %d remote candidates, cap is %d", got, MaxRemoteCandidates)
	}
}

func FuzzApplyCandidate(f *testing.F) {
	f.Add(hostCandidate("192.0.2.1", 4000))
	f.Add("candidate:1 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 192.168.1.20 rport 50000")
	f.Add("1 1 udp 16777215 198.51.100.9 3478 typ relay raddr 0.0.0.0 rport 0")
	f.Add("1 1 tcp 1 192.0.2.1 9 typ host tcptype active")
	f.Add("x.local")
	a, err := NewAgent(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = a.Close() })
	f.Fuzz(func(t *testing.T, raw string) {
		err := a.Apply(Signal{Candidates: []string{raw}})
		if err != nil && !isErr(err, ErrBadCandidate, ErrTooManyCandidates) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func TestSignalJSON(t *testing.T) {
	s := Signal{Ufrag: goodUfrag, Pwd: goodPwd, Candidates: []string{hostCandidate("192.0.2.1", 9)}, Done: true}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Signal
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Ufrag != s.Ufrag || back.Pwd != s.Pwd || !back.Done || len(back.Candidates) != 1 || back.Candidates[0] != s.Candidates[0] {
		t.Fatalf("round trip: %+v -> %s -> %+v", s, b, back)
	}
	if b, _ := json.Marshal(Signal{Done: true}); string(b) != `{"done":true}` {
		t.Errorf("empty fields are not omitted: %s", b)
	}
}

func TestGatherAll(t *testing.T) {
	a := newTestAgent(t, Config{LoopbackOnly: true})
	s, err := a.GatherAll(testContext(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s.Ufrag == "" || s.Pwd == "" || !s.Done || len(s.Candidates) != 1 {
		t.Fatalf("GatherAll = %+v, want credentials, one loopback candidate, done", s)
	}
	if err := checkCredentials(s.Ufrag, s.Pwd); err != nil {
		t.Errorf("our own credentials fail our check: %v", err)
	}
	b := newTestAgent(t, Config{LoopbackOnly: true})
	if err := b.Apply(s); err != nil {
		t.Errorf("peer refuses our signal: %v", err)
	}
	if err := a.Gather(func(Signal) {}); !errors.Is(err, ErrUsedTwice) {
		t.Errorf("second Gather: got %v, want ErrUsedTwice", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{STUN: []string{"http://example.com"}},
		{STUN: []string{"turn:example.com:3478"}},
		{STUN: []string{"stun:"}},
		{TURN: []TURNServer{{URL: "stun:example.com:3478", Username: "u", Password: "p"}}},
		{TURN: []TURNServer{{URL: "turn:example.com:3478"}}},
	} {
		if a, err := NewAgent(cfg); err == nil {
			_ = a.Close()
			t.Errorf("NewAgent(%+v) succeeded", cfg)
		}
	}
}

// remoteCount returns how many remote candidates ice holds, after a moment
// for the asynchronous additions to land.
func remoteCount(tb testing.TB, a *Agent) int {
	tb.Helper()
	time.Sleep(50 * time.Millisecond)
	cs, err := a.ice.GetRemoteCandidates()
	if err != nil {
		tb.Fatalf("GetRemoteCandidates: %v", err)
	}
	return len(cs)
}

// waitRemoteCount polls until ice holds want remote candidates or a second
// has passed, and returns the count.
func waitRemoteCount(tb testing.TB, a *Agent, want int) int {
	tb.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		cs, err := a.ice.GetRemoteCandidates()
		if err != nil {
			tb.Fatalf("GetRemoteCandidates: %v", err)
		}
		if len(cs) >= want || time.Now().After(deadline) {
			time.Sleep(20 * time.Millisecond)
			cs, _ = a.ice.GetRemoteCandidates()
			return len(cs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
