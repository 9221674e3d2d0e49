package relay

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// followKV hands each entry of the KV watcher w to apply until ctx ends,
// and closes ready once the entries that existed when it started have
// been handed over (the watcher's nil marker). It stops w when it ends;
// a watcher that ends by itself is logged as what.
func followKV(ctx context.Context, w jetstream.KeyWatcher, ready chan<- struct{}, log *slog.Logger, what string, apply func(jetstream.KeyValueEntry)) {
	defer w.Stop()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() == nil {
					log.Error("NATS watcher ended", "watching", what)
				}
				return
			}
			if e == nil {
				if initial {
					initial = false
					close(ready)
				}
				continue
			}
			apply(e)
		}
	}
}
