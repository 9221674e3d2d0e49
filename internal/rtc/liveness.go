package rtc

import (
	"context"
	"errors"
	"time"
)

// Noticing a peer that went away. A peer whose program dies sends
// nothing more: no SCTP abort, no DTLS alert. The browser notices only
// through ICE consent checks (RFC 7675): Chromium says "disconnected"
// after 5 s of unanswered checks and "failed" 15 to 17 s after the peer
// died. In the browser the Conn therefore watches the selected candidate
// pair itself (RTCPeerConnection.getStats): when the consent requests it
// sends have gone unanswered for SilentAfter (at least minUnanswered of
// them) and nothing else at all arrived in that time either, the peer is
// gone, and the Conn fails with ErrPeerSilent.
//
// A slow but live link does not trip it: a live peer answers each check
// within a round trip, whatever the data does (the checks do not queue
// behind the stream's messages), and any byte that arrives counts as a
// sign of life too. A peer that sends nothing because our reader granted
// it no credit still answers the checks. What does trip it is an outage
// of SilentAfter in both directions, which ICE alone might have outlived.
//
// Natively nothing is watched here (pion's own ICE timeouts apply): the
// CLI reconnects through the mailbox when a path fails, and its timing
// stays as it was.
const (
	// SilentAfter is how long the peer may leave our consent requests
	// unanswered, with nothing else arriving, before it counts as gone.
	// Chromium sends a request every 2.5 s on a quiet pair, and several a
	// second once one went unanswered: the peer is noticed between 5 and
	// 7.5 s after it died, plus statsEvery. Shorter would notice sooner
	// (2 s gave 3.1 to 3.8 s in the web tests) but would also end a
	// transfer over a phone's Wi-Fi at every outage of a few seconds,
	// which ICE survives and the page cannot reconnect from.
	SilentAfter = 5 * time.Second
	// minUnanswered is the fewest unanswered requests that count.
	minUnanswered = 3
	// statsEvery is how often the browser's statistics are read.
	statsEvery = 250 * time.Millisecond
	// maxMisses is how many reads without the counters end the watch,
	// when none ever had them.
	maxMisses = 20
)

// ErrPeerSilent: the peer stopped answering (see SilentAfter).
var ErrPeerSilent = errors.New("rtc: the other side stopped answering")

// pairStats is what the watch reads of the selected candidate pair.
type pairStats struct {
	pair              string // the pair's id: a new pair's counters are its own
	requestsSent      uint64 // consent (binding) requests we sent
	responsesReceived uint64 // answers to them
	received          uint64 // anything else that arrived: bytes, the peer's own requests, messages
}

// liveness decides from successive pairStats whether the peer is gone.
type liveness struct {
	after      time.Duration // SilentAfter if zero
	last       pairStats
	started    bool
	heard      time.Time // when anything last arrived
	base       uint64    // requestsSent then
	unanswered time.Time // when a request after that was first seen; zero if none
}

// observe takes the statistics read at now and says whether the peer is
// gone.
func (l *liveness) observe(now time.Time, s pairStats) bool {
	if l.started && s.pair != l.last.pair {
		// Another pair selected is no sign of life: once the selected
		// pair goes unanswered Chromium may select one it never got an
		// answer on since, and go back (seen in the web tests about 7 s
		// after a kill, which restarted the watch: 12.5 s to notice, not
		// 6.5). The silence goes on; the new pair's counters are its own,
		// so its unanswered requests are counted from here, and
		// minUnanswered of them are needed again: a live pair answers.
		l.last, l.base = s, s.requestsSent
		return false
	}
	fresh := !l.started || s.requestsSent < l.last.requestsSent ||
		s.responsesReceived < l.last.responsesReceived || s.received < l.last.received
	heard := s.responsesReceived > l.last.responsesReceived || s.received > l.last.received
	l.last, l.started = s, true
	if fresh || heard {
		l.heard, l.base, l.unanswered = now, s.requestsSent, time.Time{}
		return false
	}
	if s.requestsSent > l.base && l.unanswered.IsZero() {
		l.unanswered = now
	}
	after := l.after
	if after == 0 {
		after = SilentAfter
	}
	return !l.unanswered.IsZero() && now.Sub(l.unanswered) >= after &&
		now.Sub(l.heard) >= after && s.requestsSent-l.base >= minUnanswered
}

// watch reads the selected pair's statistics every statsEvery until the
// connection ends, and fails it with ErrPeerSilent once the peer is gone.
// read is nil when the engine has no such statistics (natively); it says
// false for a round without them (a browser without the counters has
// none: then the watch soon stops).
func (c *Conn) watch(read func(ctx context.Context) (pairStats, bool)) {
	if read == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-c.dead:
		case <-stop:
		}
		cancel()
	}()
	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	var l liveness
	for misses := 0; ; {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		s, ok := read(ctx)
		if !ok {
			// a round without statistics is skipped; a browser that never
			// has them is not asked for ever
			if misses++; !l.started && misses >= maxMisses {
				c.log.Debug("rtc: no statistics to watch the peer with")
				return
			}
			continue
		}
		c.mu.Lock()
		s.received += c.messages
		c.mu.Unlock()
		if l.observe(time.Now(), s) {
			c.log.Debug("rtc: the peer stopped answering", "unanswered", s.requestsSent-l.base, "silent", time.Since(l.heard))
			c.fail(ErrPeerSilent)
			go c.pc.Close()
			return
		}
	}
}
