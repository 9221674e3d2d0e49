package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryStartUnavailable: a JetStream that stays "not ready" until the
// start's time runs out ends as ErrNATSUnavailable (ferry relay then
// hints that a new cluster needs all its nodes); an error that is not
// temporary comes back at once, as it is.
func TestRetryStartUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	calls := 0
	err := retryStart(ctx, func() error {
		calls++
		return &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}
	})
	if !errors.Is(err, ErrNATSUnavailable) || calls < 2 {
		t.Fatalf("after %d tries: %v, want ErrNATSUnavailable after several", calls, err)
	}
	permanent := errors.New("bad config")
	calls = 0
	err = retryStart(t.Context(), func() error { calls++; return permanent })
	if err != permanent || calls != 1 {
		t.Fatalf("a lasting error: %v after %d tries, want it at once", err, calls)
	}
}
