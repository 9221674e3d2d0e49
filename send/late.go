package send

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// Late sums (see internal/transfer's late.go): when the hashes are not
// all done by the time the offer is ready, the offer says they follow and
// lateSums sends them through the mailbox as soon as they are.

// lateSums sends the hashes an offer with SumsLater promised; sent is
// closed once they went out, or could not (err).
type lateSums struct {
	sent chan struct{}
	sums []transfer.FileSum
	err  error
}

// sendLate waits for h in the background and sends its sums on ch,
// sealed as opts say, for the offer named binding (transfer.SumsBinding).
// A failure (a file that cannot be read, a mailbox that is gone) ends the
// transfer through fail.
func (opts FileOptions) sendLate(ctx context.Context, ch *transfer.Channel, h *hashing, binding string, fail context.CancelCauseFunc) *lateSums {
	l := &lateSums{sent: make(chan struct{})}
	go func() {
		defer close(l.sent)
		sums, err := h.wait(ctx)
		if err == nil {
			var ls *transfer.LateSums
			if ls, err = opts.sealSums(binding, sums); err == nil {
				if err = ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Sums: ls}}); err != nil {
					err = fmt.Errorf("send the file hashes: %w", err)
				}
			}
		}
		l.sums, l.err = sums, err
		if err == nil {
			opts.Logger.Debug("send: the hashes went out", "files", len(sums))
		}
		if err != nil && ctx.Err() == nil {
			opts.Logger.Debug("send: the file hashes did not go out", "err", err)
			fail(err)
		}
	}()
	return l
}

// wait waits until the sums went out and returns them; the receiver
// stopping ends the wait (errPeerStopped: its reason is in ch).
func (l *lateSums) wait(ctx context.Context, ch *transfer.Channel) ([]transfer.FileSum, error) {
	select {
	case <-l.sent:
		return l.sums, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ch.PeerFailed():
		return nil, errPeerStopped
	}
}

// errPeerStopped is a wait the receiver's error ended.
var errPeerStopped = fmt.Errorf("the receiver stopped before the file hashes went out")

// sealSums is the message that carries sums for the offer named binding:
// in the clear inside the mailbox's encryption, or, with --to/--sign,
// sealed like the stream, so that the signature covers the sums and the
// offer they belong to.
func (opts FileOptions) sealSums(binding string, sums []transfer.FileSum) (*transfer.LateSums, error) {
	ls := &transfer.LateSums{Offer: binding, Sums: sums}
	if !opts.sealed() {
		return ls, nil
	}
	plain, err := json.Marshal(ls)
	if err != nil {
		return nil, fmt.Errorf("encode the file hashes: %w", err)
	}
	sealed, err := opts.seal(plain, "the file hashes")
	if err != nil {
		return nil, err
	}
	if len(sealed) > transfer.MaxSealedSums {
		return nil, fmt.Errorf("the file hashes are too long to send sealed (%d bytes, at most %d)", len(sealed), transfer.MaxSealedSums)
	}
	return &transfer.LateSums{Sealed: sealed}, nil
}
