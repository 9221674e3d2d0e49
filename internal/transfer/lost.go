package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ferrydrop/ferry/internal/transit"
)

// ConnectionLost is err, the failure of a transfer, as lost (a side's
// sentence for a peer that went away: receive.ErrConnectionLost,
// send.ErrConnectionLost) with what the path said in parentheses, when
// perr, the first failed read or write on the transfer's path, is why it
// failed. A stalled path (the idle timeout says so itself), a failure
// above a sound path (perr nil: a bad stream, a full disk, a mismatched
// hash) and a cancel pass unchanged. Both sides' ferry streams and
// classic transfers share it.
func ConnectionLost(ctx context.Context, lost, perr, err error) error {
	if err == nil || ctx.Err() != nil || perr == nil || errors.Is(err, transit.ErrStalled) {
		return err
	}
	why := perr.Error()
	if errors.Is(perr, io.EOF) || errors.Is(perr, io.ErrUnexpectedEOF) {
		why = "it closed the connection"
	}
	return fmt.Errorf("%w (%s)", lost, why)
}

// PathNoter passes reads and writes through to a path and keeps the
// first that failed (Err), for ConnectionLost: what the layers above the
// path make of its failure (a record reader's complaint, a cut stream)
// hides it.
type PathNoter struct {
	io.ReadWriter
	mu  sync.Mutex
	err error
}

func (p *PathNoter) note(err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
}

// Read reads from the path, noting a failure.
func (p *PathNoter) Read(b []byte) (int, error) {
	n, err := p.ReadWriter.Read(b)
	p.note(err)
	return n, err
}

// Write writes to the path, noting a failure.
func (p *PathNoter) Write(b []byte) (int, error) {
	n, err := p.ReadWriter.Write(b)
	p.note(err)
	return n, err
}

// Err is the error of the first read or write that failed, or nil.
func (p *PathNoter) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
