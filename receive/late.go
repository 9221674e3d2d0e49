package receive

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
)

// Late sums (see internal/transfer's late.go): an offer that says its
// file hashes follow is accepted at once unless a partial in the folder
// could match it; the stream's files are staged and hashed as they come,
// and checked against the sums once they arrive (during the stream, or
// after it: at most SumsTimeout later), before anything gets its final
// name. The resume record written before the sums arrive names no hash
// for its files; a later run does not resume such a partial, it starts
// the file over from zero (its bytes cannot be checked against an offer).

// sumsBox holds the sums that followed an offer once they arrived (or
// why they were refused).
type sumsBox struct {
	ready  chan struct{}
	once   sync.Once
	sums   []transfer.FileSum
	signer *crypto.Signer // who signed them (sealed transfers)
	err    error          // they were refused
	tell   func()         // a test's hook: told when they arrive
}

func newSumsBox(tell func()) *sumsBox { return &sumsBox{ready: make(chan struct{}), tell: tell} }

// deliver keeps the first sums that arrive (or why they are refused).
func (b *sumsBox) deliver(sums []transfer.FileSum, signer *crypto.Signer, err error) {
	b.once.Do(func() {
		b.sums, b.signer, b.err = sums, signer, err
		close(b.ready)
		if b.tell != nil {
			b.tell()
		}
	})
}

// poll returns the sums if they arrived (ok), without waiting.
func (b *sumsBox) poll() (sums []transfer.FileSum, err error, ok bool) {
	select {
	case <-b.ready:
		return b.sums, b.err, true
	default:
		return nil, nil, false
	}
}

// refused is why the sums were refused, if they were.
func (b *sumsBox) refused() error {
	if b == nil {
		return nil
	}
	_, err, _ := b.poll()
	return err
}

// checkSigner checks that the sums, if they came signed, are signed by
// the files' signer.
func (b *sumsBox) checkSigner(files *crypto.Signer) error {
	if b == nil {
		return nil
	}
	if _, _, ok := b.poll(); !ok || b.signer == nil {
		return nil
	}
	if files == nil || files.Fingerprint != b.signer.Fingerprint {
		return errors.New("the files are not signed by the key that signed their hashes")
	}
	return nil
}

// sumsTimeout is how long the receiver waits for sums that follow.
func (opts Options) sumsTimeout() time.Duration {
	if opts.SumsTimeout > 0 {
		return opts.SumsTimeout
	}
	return transfer.DefaultSumsTimeout
}

// openSums checks the sums that followed the offer: sealed and signed
// like it when it was, for this offer (r.binding), and fitting its
// manifest (r.offerMan).
func (r *run) openSums(ls *transfer.LateSums) ([]transfer.FileSum, *crypto.Signer, error) {
	body := *ls
	var signer *crypto.Signer
	switch {
	case r.sl != nil:
		if len(ls.Sealed) == 0 || ls.Offer != "" || ls.Sums != nil {
			return nil, nil, errors.New("the sender's file hashes came unsealed in a sealed transfer")
		}
		if len(ls.Sealed) > transfer.MaxSealedSums {
			return nil, nil, fmt.Errorf("the sender's sealed file hashes are %d bytes (at most %d)", len(ls.Sealed), transfer.MaxSealedSums)
		}
		msg, err := r.sl.open(bytes.NewReader(ls.Sealed), "the sealed file hashes")
		if err != nil {
			return nil, nil, err
		}
		plain, err := io.ReadAll(io.LimitReader(msg, transfer.MaxSealedSums+1))
		if err != nil {
			return nil, nil, fmt.Errorf("open the sealed file hashes: %w", err)
		}
		if len(plain) > transfer.MaxSealedSums {
			return nil, nil, fmt.Errorf("the sealed file hashes hold more than %d bytes", transfer.MaxSealedSums)
		}
		body = transfer.LateSums{}
		if err := json.Unmarshal(plain, &body); err != nil || len(body.Sealed) > 0 {
			return nil, nil, errors.New("the sealed file hashes are malformed")
		}
		signer = signerOf(msg)
		if r.sl.offer.Signed && signer == nil {
			return nil, nil, fmt.Errorf("open the sealed file hashes: %w", crypto.ErrNotSigned)
		}
		if r.namesSigner != nil && (signer == nil || signer.Fingerprint != r.namesSigner.Fingerprint) {
			return nil, nil, errors.New("the file hashes are not signed by the key that signed their list of names")
		}
	case len(ls.Sealed) > 0:
		return nil, nil, errors.New("the sender sealed its file hashes in a transfer that is not sealed")
	}
	if body.Offer != r.binding {
		return nil, nil, errors.New("the sender's file hashes belong to another offer")
	}
	man, err := r.offerMan.WithSums(body.Sums)
	if err != nil {
		return nil, nil, fmt.Errorf("the sender's file hashes do not fit its offer: %w", err)
	}
	return man.Sums, signer, nil
}

// takeSums keeps the sums of a Sums message in r.box; the error is why
// they were refused.
func (r *run) takeSums(ls *transfer.LateSums) error {
	sums, signer, err := r.openSums(ls)
	if err != nil {
		err = &transfer.Refusal{Reason: "the receiver refused the sender's file hashes", Err: err}
	}
	r.box.deliver(sums, signer, err)
	return r.box.refused()
}

// waitSums reads the mailbox until the sums that follow the offer arrive,
// at most opts.SumsTimeout; since tells what the wait began after, for
// the error. The sender's request for a new path, if it comes first, is
// kept for the reconnect.
func (r *run) waitSums(ctx context.Context, since string) error {
	if _, err, ok := r.box.poll(); ok {
		return err
	}
	limit := r.opts.sumsTimeout()
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		e, err := r.ch.Next(wctx)
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return fmt.Errorf("the sender's file hashes did not arrive within %s of %s; nothing got its final name", limit, since)
			}
			return err
		}
		switch {
		case e.Error != nil:
			return transfer.PeerError("the sender", *e.Error)
		case e.Ferry != nil && e.Ferry.Sums != nil:
			return r.takeSums(e.Ferry.Sums)
		case e.Ferry != nil && e.Ferry.Retry != nil:
			r.retry = e.Ferry.Retry
		}
	}
}

// adoptSums gives the sums the offer lacked to r.man, once they arrived:
// a new sink (a reconnect's) checks and resumes with them as with sums in
// the offer.
func (r *run) adoptSums() {
	if r.box == nil || !r.man.SumsLater {
		return
	}
	if sums, err, ok := r.box.poll(); ok && err == nil {
		r.man.SumsLater, r.man.Sums = false, sums
	}
}

// pending tells whether s checks hashes that have not arrived yet.
func pending(s sink) bool {
	d, ok := s.(*dest)
	return ok && d.res != nil && d.res.late
}

// catchUp, while the sums are late, takes them when they have arrived.
func (r *resumer) catchUp(d *dest) error {
	if !r.late || r.box == nil {
		return nil
	}
	sums, err, ok := r.box.poll()
	if !ok {
		return nil
	}
	if err != nil {
		return err
	}
	return r.adopt(d, sums)
}

// adopt checks what the stream carried before the sums arrived against
// them (the same files in the same order, each complete one with its
// hash) and goes on with them as if the offer had carried them. A
// complete file that does not match is removed.
func (r *resumer) adopt(d *dest, sums []transfer.FileSum) error {
	for i, s := range r.sums {
		if i >= len(sums) || sums[i].Path != s.Path || sums[i].Size != s.Size {
			return fmt.Errorf("the stream has \"%s\" where the sender's file hashes list another file", transfer.Escape(s.Path))
		}
		if r.pax[i] != "" && r.pax[i] != sums[i].Hash {
			return fmt.Errorf("stream gives \"%s\" another hash than the offer", transfer.Escape(s.Path))
		}
		if i < len(r.computed) && r.computed[i] != sums[i].Hash {
			delete(r.ents, i)
			d.root.Remove(path.Join(d.stage, s.Path))
			if r.persist {
				r.checkpoint(d, -1, 0, nil)
			}
			return fmt.Errorf("\"%s\" does not match the hash the sender offered: its partial is discarded, the next transfer starts it from zero", transfer.Escape(s.Path))
		}
	}
	for i, e := range r.ents {
		e.Hash = sums[i].Hash
		r.ents[i] = e
	}
	for len(r.held) < len(sums) && r.persist {
		r.held, r.hashers = append(r.held, 0), append(r.hashers, nil)
	}
	r.sums, r.late, r.pax, r.computed = sums, false, nil, nil
	r.last = time.Time{} // the record gets the hashes at the next checkpoint
	return nil
}

// beginLate is begin for a file the stream carries before the sums
// arrived: it starts at zero (the receiver said it held nothing).
func (r *resumer) beginLate(name string, size int64, pax map[string]string) (int64, error) {
	if int64(len(r.sums)) >= r.files {
		return 0, fmt.Errorf("stream has more files than the %d the sender declared", r.files)
	}
	if _, ok := pax[transfer.PAXOffset]; ok {
		return 0, fmt.Errorf("the sender resumed \"%s\" at an offset, but the receiver holds none of it", transfer.Escape(name))
	}
	if v := pax[transfer.PAXHash]; v != "" {
		if b, err := hex.DecodeString(v); err != nil || len(b) != transfer.HashSize {
			return 0, fmt.Errorf("stream gives a malformed hash for \"%s\"", transfer.Escape(name))
		}
	}
	r.sums = append(r.sums, transfer.FileSum{Path: name, Size: size})
	r.pax = append(r.pax, pax[transfer.PAXHash])
	if r.persist {
		r.held, r.hashers = append(r.held, 0), append(r.hashers, nil)
	}
	return 0, nil
}
