package rtc

import (
	"regexp"
	"testing"
	"time"
)

// Messages are as large as the peer's advertised max-message-size
// allows, up to MaxMessage (256 KiB: what ferry and Chromium advertise),
// and no larger than 64 KiB toward a peer that advertises less or none.
func TestMessageSize(t *testing.T) {
	maxSize := regexp.MustCompile(`a=max-message-size:[0-9]+\r\n`)
	for _, tc := range []struct {
		name   string
		answer func(string) string // the answerer's SDP as the offerer sees it
		want   int
	}{
		{"both ferry", nil, 256 << 10},
		{"peer advertises 64 KiB", func(sdp string) string {
			return maxSize.ReplaceAllString(sdp, "a=max-message-size:65536\r\n")
		}, 64 << 10},
		{"peer advertises none", func(sdp string) string {
			return maxSize.ReplaceAllString(sdp, "")
		}, 65535}, // pion's value for an SDP without max-message-size
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, 30*time.Second)
			rewrite := func(s Signal) Signal {
				if tc.answer != nil && s.Type == TypeAnswer {
					if !maxSize.MatchString(s.SDP) {
						t.Error("the answer has no max-message-size to rewrite")
					}
					s.SDP = tc.answer(s.SDP)
				}
				return s
			}
			o, a := dialPair(ctx, t, loopback(Offerer), loopback(Answerer), rewrite)
			if o.err != nil || a.err != nil {
				t.Fatalf("Dial: offerer: %v, answerer: %v", o.err, a.err)
			}
			w, r := o.c, a.c
			const size = 1 << 20
			if _, err := w.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			for r.Queued() < size { // all of it fits in the window: nothing is read
				select {
				case <-r.readable:
				case <-r.dead:
					t.Fatal(r.Err())
				case <-ctx.Done():
					t.Fatalf("%d of %d bytes arrived", r.Queued(), size)
				}
			}
			r.mu.Lock()
			largest := 0
			for _, m := range r.queue {
				largest = max(largest, len(m))
			}
			r.mu.Unlock()
			if largest != tc.want {
				t.Errorf("largest message %d bytes, want %d", largest, tc.want)
			}
		})
	}
}
