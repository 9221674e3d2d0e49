package rtc

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// sample is one read of the selected pair's counters, at ms after the
// start.
type sample struct {
	ms                 int
	sent, answered, rx uint64
}

// run feeds samples to a fresh liveness with the default SilentAfter and
// returns the ms of the first one that says the peer is gone, or -1.
func run(samples []sample) int { return runAfter(0, samples) }

// runAfter is run with a SilentAfter of its own (0: the default).
func runAfter(after time.Duration, samples []sample) int {
	l := liveness{after: after}
	t0 := time.Unix(0, 0)
	for _, s := range samples {
		if l.observe(t0.Add(time.Duration(s.ms)*time.Millisecond), pairStats{pair: "p", requestsSent: s.sent, responsesReceived: s.answered, received: s.rx}) {
			return s.ms
		}
	}
	return -1
}

// chromiumKill is what Chromium 14x's getStats said of the selected pair
// while `ferry send` streamed to the page over loopback and was killed
// (SIGKILL) at 6476 ms: requestsSent, responsesReceived and
// bytesReceived+requestsReceived. The stream stalled at 4489 ms while the
// page caught up (its credit was used up): the sender, alive, sent
// nothing for two seconds before it was killed.
var chromiumKill = []sample{
	{1326, 3, 3, 334774}, {1577, 3, 3, 334840}, {1826, 3, 3, 334840}, {2076, 3, 3, 334840},
	{2326, 4, 4, 1509827}, {2576, 4, 4, 4119554}, {2826, 4, 4, 6090950}, {3076, 4, 4, 6090950},
	{3516, 5, 5, 6092176}, {3594, 5, 5, 6385122}, {4489, 5, 5, 11738174}, {4576, 5, 5, 11738174},
	{4826, 5, 5, 11738174}, {5076, 5, 5, 11738174}, {5326, 5, 5, 11738174}, {5599, 5, 5, 11738174},
	{5826, 5, 5, 11738174}, {6077, 6, 5, 11738174}, {6326, 6, 5, 11738174}, {6576, 7, 5, 11738174},
	{6826, 9, 5, 11738174}, {7076, 11, 5, 11738174}, {7326, 13, 5, 11738174}, {7576, 15, 5, 11738174},
	{7825, 17, 5, 11738174}, {8076, 19, 5, 11738174}, {8326, 21, 5, 11738174}, {8575, 23, 5, 11738174},
	// Chromium said "disconnected" at 10906 ms and "failed" at 20923 ms
	{10826, 41, 5, 11738174}, {11075, 43, 5, 11738174},
}

func TestLivenessChromiumKill(t *testing.T) {
	// The trace is too short for the default SilentAfter: with 2 s, the
	// first unanswered request showed at 6077 ms, so the peer is gone at
	// the first read 2 s later.
	got := runAfter(2*time.Second, chromiumKill)
	if want := 8326; got != want {
		t.Fatalf("the peer counted as gone at %d ms, want %d (killed at 6476 ms)", got, want)
	}
	// With the default, the same kill, the checks going on unanswered
	// several times a second as Chromium's did after 8.5 s.
	kill := append([]sample(nil), chromiumKill...)
	for ms, sent := 11325, uint64(43); ms <= 20000; ms += 250 {
		sent += 2
		kill = append(kill, sample{ms, sent, 5, 11738174})
	}
	if got, want := run(kill), 6077+int(SilentAfter/time.Millisecond); got < want || got > want+250 {
		t.Fatalf("with the default the peer counted as gone at %d ms, want the first read from %d ms", got, want)
	}
}

// A live pair that carries nothing (the reader granted no credit):
// Chromium's check every 2.5 s, answered within a round trip, sometimes
// only at the next read.
func TestLivenessQuietPeer(t *testing.T) {
	var s []sample
	sent, answered := uint64(5), uint64(5)
	for ms := 0; ms <= 120000; ms += 250 {
		if ms%2500 == 0 {
			sent++
		}
		if ms%2500 == 250 || (ms%5000 == 500 && answered < sent) { // answered late, now and then
			answered = sent
		}
		s = append(s, sample{ms, sent, answered, 1000})
	}
	if got := run(s); got != -1 {
		t.Fatalf("a quiet live peer counted as gone at %d ms", got)
	}
}

// Lost answers: Chromium checks again several times a second until one
// is answered; an outage shorter than SilentAfter passes.
func TestLivenessShortOutage(t *testing.T) {
	s := []sample{{0, 5, 5, 1000}, {250, 6, 5, 1000}}
	sent := uint64(6)
	for ms := 500; ms < 1750; ms += 250 {
		sent += 2
		s = append(s, sample{ms, sent, 5, 1000})
	}
	s = append(s, sample{2000, sent + 1, 6, 1000}) // answered again
	for ms := 2250; ms < 30000; ms += 250 {
		s = append(s, sample{ms, sent + 1, 6, 1000})
	}
	if got := runAfter(2*time.Second, s); got != -1 {
		t.Fatalf("an outage of 1.75 s counted as gone at %d ms with a SilentAfter of 2 s", got)
	}
	// The default lets a phone's Wi-Fi drop out for 4.5 s.
	s = []sample{{0, 5, 5, 1000}, {250, 6, 5, 1000}}
	sent = 6
	for ms := 500; ms < 4750; ms += 250 {
		sent += 2
		s = append(s, sample{ms, sent, 5, 1000})
	}
	s = append(s, sample{4750, sent + 1, 6, 1000}) // answered again
	for ms := 5000; ms < 30000; ms += 250 {
		s = append(s, sample{ms, sent + 1, 6, 1000})
	}
	if got := run(s); got != -1 {
		t.Fatalf("an outage of 4.5 s counted as gone at %d ms", got)
	}
	if got := runAfter(2*time.Second, s); got == -1 {
		t.Fatal("an outage of 4.5 s did not count as gone with a SilentAfter of 2 s: the case tests nothing")
	}
}

// Checks unanswered while bytes still arrive (the answers are lost on a
// congested link): the peer is alive.
func TestLivenessDataArrives(t *testing.T) {
	var s []sample
	for ms, sent, rx := 0, uint64(5), uint64(0); ms < 30000; ms += 250 {
		sent += 2
		if ms%1000 == 0 {
			rx += 1200 // a packet a second: slow, but alive
		}
		s = append(s, sample{ms, sent, 5, rx})
	}
	if got := run(s); got != -1 {
		t.Fatalf("a peer whose bytes arrive counted as gone at %d ms", got)
	}
}

// Too few unanswered checks (a browser that checks rarely) do not count,
// however long; a new pair's checks are counted afresh (the old one's do
// not count for it), and counters that went back start all afresh.
func TestLivenessNeedsEvidence(t *testing.T) {
	var s []sample
	for ms := 0; ms < 30000; ms += 250 {
		s = append(s, sample{ms, 5 + uint64(min(ms/2500, 2)), 5, 1000})
	}
	if got := run(s); got != -1 {
		t.Fatalf("two unanswered checks counted as gone at %d ms", got)
	}

	l := liveness{after: 2 * time.Second}
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l.observe(at(0), pairStats{pair: "a", requestsSent: 5, responsesReceived: 5})
	l.observe(at(250), pairStats{pair: "a", requestsSent: 9, responsesReceived: 5})
	if l.observe(at(2500), pairStats{pair: "b", requestsSent: 20, responsesReceived: 5}) {
		t.Fatal("a new pair counted the old one's unanswered checks")
	}
	l.observe(at(2750), pairStats{pair: "b", requestsSent: 21, responsesReceived: 5})
	if !l.observe(at(4750), pairStats{pair: "b", requestsSent: 24, responsesReceived: 5}) {
		t.Fatal("the new pair, unanswered for 2 s, did not count as gone")
	}
	l = liveness{after: 2 * time.Second}
	l.observe(at(0), pairStats{pair: "a", requestsSent: 5, responsesReceived: 5})
	l.observe(at(250), pairStats{pair: "a", requestsSent: 9, responsesReceived: 5})
	if l.observe(at(2500), pairStats{pair: "a", requestsSent: 2, responsesReceived: 1}) {
		t.Fatal("counters that went back counted as gone")
	}
	if l.observe(at(4750), pairStats{pair: "a", requestsSent: 5, responsesReceived: 1}) {
		t.Fatal("counters that went back did not start the silence afresh")
	}
}

// The selected pair changes while the peer is silent: Chromium selected
// a pair it never had an answer on since, and went back half a second
// later (what a page sending to a `ferry receive` killed at 0 ms showed:
// the pair's id, state, requestsSent and responsesReceived). Neither
// switch is a sign of life: the peer counts as gone as if nothing had
// changed, once the pair in use has gone unanswered minUnanswered times
// since the switch; a pair that answers after a switch is alive.
func TestLivenessPairSwitch(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l := liveness{}
	gone := -1
	sent := uint64(6)
	for ms := 0; ms <= 12000; ms += 250 {
		pair, base := "kvLOGVKq", uint64(0)
		switch {
		case ms < 1000: // Chromium's next consent check after the kill
			sent = 6
		case ms < 5000:
			sent += 2
		case ms < 5500: // BkQUixdy, "in-progress", answered 4 times long before
			pair, base = "BkQUixdy", 25
			sent += 2
		default:
			sent += 2
		}
		rx := uint64(5)
		if pair == "BkQUixdy" {
			rx = 4
		}
		if l.observe(at(ms), pairStats{pair: pair, requestsSent: sent + base, responsesReceived: rx, received: 11738174}) {
			gone = ms
			break
		}
	}
	// The first unanswered request showed at 1000 ms: gone SilentAfter
	// later, once the pair in use (the old one again from 5500 ms) has
	// three unanswered requests of its own (at 6000 ms). Had a switch
	// restarted the watch, not before 10500 ms.
	if want := 1000 + int(SilentAfter/time.Millisecond); gone < want || gone > want+500 {
		t.Fatalf("the peer counted as gone at %d ms, want from %d to %d (as if the pair had not changed)", gone, want, want+500)
	}

	// a pair selected after a silence that answers is alive
	l = liveness{after: 2 * time.Second}
	l.observe(at(0), pairStats{pair: "a", requestsSent: 5, responsesReceived: 5})
	for ms := 250; ms <= 2500; ms += 250 {
		l.observe(at(ms), pairStats{pair: "a", requestsSent: 5 + uint64(ms/250)*2, responsesReceived: 5})
	}
	l.observe(at(2750), pairStats{pair: "b", requestsSent: 8, responsesReceived: 8})
	for ms := 3000; ms <= 10000; ms += 250 {
		n := 8 + uint64(ms-2750)/2500
		if l.observe(at(ms), pairStats{pair: "b", requestsSent: n + 1, responsesReceived: n}) {
			t.Fatalf("a new pair whose checks are answered counted as gone at %d ms", ms)
		}
	}
}

// watch fails a real connection with ErrPeerSilent once the statistics
// say the peer is gone (the browser's getStats is replaced by counters
// that stop being answered), and closes it; without statistics it
// watches nothing.
func TestWatchFailsSilentPeer(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	off, ans := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	defer ans.Close()
	off.watch(nil) // natively: returns at once

	var sent atomic.Uint64
	sent.Store(5)
	go off.watch(func(ctx context.Context) (pairStats, bool) {
		return pairStats{pair: "p", requestsSent: sent.Add(1), responsesReceived: 5, received: 100}, ctx.Err() == nil
	})
	_, err := off.Read(make([]byte, 1))
	if !errors.Is(err, ErrPeerSilent) {
		t.Fatalf("read: %v, want ErrPeerSilent", err)
	}
	// the peer connection closes: the other side's channel ends too
	ans.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := ans.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the other side's read: %v, after the watch closed the connection", err)
	}
}
