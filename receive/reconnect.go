package receive

import (
	"context"
	"errors"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
)

// Reconnect within a run (see internal/transfer's reconnect.go): when the
// data path breaks, the receiver keeps what it holds (the resume record,
// brought up to date), waits for the sender's request for a new path,
// answers with what it holds and how to reach it, and takes the stream
// again from there.

// haveOf is what sink holds, for the sender, when it resumes; nil when it
// does not, or while the sums are late (it holds nothing then).
func haveOf(s sink) *transfer.Have {
	if resumable(s) && !pending(s) {
		return s.(*dest).res.have()
	}
	return nil
}

// resumable tells whether sink keeps what arrives to go on from.
func resumable(s sink) bool {
	d, ok := s.(*dest)
	return ok && d.res != nil && d.res.persist
}

// canReconnect tells whether a transfer that failed on conn may go on on a
// new path: the path itself broke, reconnecting is on, and sink resumes.
func (r *run) canReconnect(conn *transfer.Conn, s sink) bool {
	if r.retry != nil && r.retry.Attempt > r.attempt && resumable(s) && r.ctx.Err() == nil && r.box.refused() == nil {
		return true // the sender asked for a new path: it saw this one break
	}
	return conn.Broken() && r.opts.ReconnectTimeout > 0 && resumable(s) && r.ctx.Err() == nil && r.box.refused() == nil
}

// lost says in words why a transfer failed when its path broke under it
// (the sender went away, or the network failed) rather than passing on
// what the layers above the path made of it (a stream "cut short" to the
// decrypter); the sender's own error, if it sent one, says it best. Other
// errors (a stalled path, a bad stream on a sound path, a full disk, a
// cancel) pass unchanged.
func (r *run) lost(conn *transfer.Conn, err error) error {
	if err == nil || r.ctx.Err() != nil {
		return err
	}
	if r.peerErr != nil {
		return r.peerErr
	}
	if rerr := r.box.refused(); rerr != nil {
		return rerr // why the receiver cut the path
	}
	return connectionLost(r.ctx, conn.PathError(), err)
}

// connectionLost is err, the failure of a transfer, as ErrConnectionLost
// when perr, the first failed read or write on its path, is why it
// failed (transfer.ConnectionLost). Ferry's stream (run.lost) and a
// classic transfer share it.
func connectionLost(ctx context.Context, perr, err error) error {
	return transfer.ConnectionLost(ctx, ErrConnectionLost, perr, err)
}

// noResume is err, the failure of the stream on conn into s, as a
// NoResumeError saying why the transfer cannot go on over a new path when
// that is why it ends: the path broke with reconnecting on, and s cannot
// resume. The sender's own words (a Refusal) stand as they are.
func (r *run) noResume(conn *transfer.Conn, s sink, err error) error {
	var refusal *transfer.Refusal
	if err == nil || !conn.Broken() || r.opts.ReconnectTimeout <= 0 || r.ctx.Err() != nil || resumable(s) || errors.As(err, &refusal) {
		return err
	}
	return &transfer.NoResumeError{Reason: r.noResumeReason(s), Err: err}
}

// noResumeReason says why s cannot resume; the sender is told it too, so
// it names no local file.
func (r *run) noResumeReason(s sink) string {
	switch d := s.(type) {
	case *pipeSink:
		return "what arrived went to stdout (--out -), which cannot be taken back"
	case *dest:
		switch {
		case r.kind == transfer.StreamRaw:
			return "the sender streams from stdin, which cannot be read again, so it cannot resume (a file sent from disk can reconnect)"
		case d.res == nil:
			return transfer.NoResumeNoHashes
		case r.opts.NoResume:
			return "--no-resume keeps no partial files to go on from"
		}
		return "another receiver holds the partial files of this offer"
	}
	return "what arrived is not kept to go on from"
}

// watch reads the mailbox while the stream runs: the sender's request for
// a new path (it saw this one break first, and reconnecting is on) or its
// error ends the connection at once instead of after the idle timeout;
// the sums that follow the offer are kept (r.box), and refused ones end
// it too. The returned func stops it.
func (r *run) watch(conn *transfer.Conn) (stop func()) {
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := r.ch.Next(ctx)
			if err != nil {
				return
			}
			if e.Error != nil {
				r.peerErr = transfer.PeerError("the sender", *e.Error)
				conn.Abort()
				return
			}
			if e.Ferry != nil && e.Ferry.Sums != nil && r.box != nil {
				if r.takeSums(e.Ferry.Sums) != nil {
					conn.Abort()
					return
				}
			}
			if e.Ferry != nil && e.Ferry.Retry != nil && e.Ferry.Retry.Attempt > r.attempt && r.opts.ReconnectTimeout > 0 {
				r.retry = e.Ferry.Retry
				conn.Abort()
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// reconnect finds a new path after the last one broke (why), within
// opts.ReconnectTimeout, and returns it with the sink that goes on from
// what is held.
func (r *run) reconnect(old sink, why error) (*transfer.Conn, sink, error) {
	if r.peerErr != nil {
		return nil, old, r.peerErr
	}
	limit := r.opts.ReconnectTimeout
	if limit <= 0 {
		limit = transit.DefaultIdleTimeout // the sender asked; give it a fair wait
	}
	ctx, cancel := context.WithTimeout(r.ctx, limit)
	defer cancel()
	if pending(old) {
		// What it holds is known once the sums came: the record gets
		// them before the next attempt reads it.
		if err := r.waitSums(ctx, "the break"); err != nil {
			if r.ctx.Err() == nil && ctx.Err() != nil {
				return nil, old, &transfer.ReconnectError{Timeout: limit, Err: why}
			}
			return nil, old, err
		}
		d := old.(*dest)
		if err := d.res.catchUp(d); err != nil {
			return nil, old, err
		}
	}
	r.adoptSums()
	// What arrived is synced and recorded; the sink for the next attempt
	// re-reads the record and checks what it claims, as a later run would.
	old.abort()
	s, err := r.newSink()
	if err != nil {
		return nil, old, err
	}
	have := haveOf(s)
	if have == nil {
		return nil, s, errors.New("the connection broke, and the partial files could not be kept to go on from")
	}
	for {
		if r.opts.OnReconnecting != nil {
			r.opts.OnReconnecting(r.attempt+1, why)
		}
		req := r.retry
		r.retry = nil
		if req == nil {
			if req, err = r.ch.WaitRetry(ctx, 0, r.attempt); err != nil {
				if r.ctx.Err() == nil && ctx.Err() != nil {
					return nil, s, &transfer.ReconnectError{Timeout: limit, Err: why}
				}
				return nil, s, err
			}
		}
		r.attempt = req.Attempt
		conn, err := r.tryPath(ctx, req, have)
		if err == nil {
			return conn, s, nil
		}
		var refusal *transfer.Refusal
		if r.ctx.Err() != nil || errors.As(err, &refusal) {
			return nil, s, err
		}
		if ctx.Err() != nil {
			return nil, s, &transfer.ReconnectError{Timeout: limit, Err: why}
		}
		r.opts.Logger.Debug("receive: reconnect attempt failed", "attempt", r.attempt, "err", err)
		why = err
	}
}

// tryPath answers the sender's request req with what is held and races
// for the new path.
func (r *run) tryPath(ctx context.Context, req *transfer.Retry, have *transfer.Have) (*transfer.Conn, error) {
	o := r.opts
	link, tr, err := transfer.PrepareLink(ctx, o.linkOptions(ctx, r.w, req.Attempt, req.Transports))
	if err != nil {
		return nil, err
	}
	if err := r.ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Retry: &transfer.Retry{Attempt: req.Attempt, Transports: tr, Have: have}}}); err != nil {
		link.Close()
		return nil, err
	}
	conn, err := link.Connect(ctx, r.w, r.ch, transit.Receiver, req.Transports)
	if err != nil {
		link.Close()
		return nil, err
	}
	r.links = append(r.links, link)
	return conn, nil
}
