package send

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// srcFile is one regular file of a transfer, in stream order, as scan
// found it.
type srcFile struct {
	it     item
	q      string // its name in it.fsys
	stream string // its path in the stream
	size   int64
}

// hashFiles computes every file's hash for the offer (transfer.FileSum),
// so that a ferry receiver can resume: only for files on disk (not a
// browser's), and at most transfer.MaxSums of them. It runs while the
// sender waits for the receiver; nil sums mean no resume.
func (s *source) hashFiles(ctx context.Context) ([]transfer.FileSum, error) {
	if !s.hashable() {
		return nil, nil
	}
	buf := make([]byte, transfer.CopyBufferSize)
	sums := make([]transfer.FileSum, 0, len(s.files))
	for _, f := range s.files {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h := transfer.NewHash()
		r, err := f.it.fsys.Open(f.q)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.it.show(f.q), err)
		}
		n, err := io.CopyBuffer(h, r, buf)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.it.show(f.q), err)
		}
		if n != f.size {
			return nil, fmt.Errorf("%s changed size while it was being read", f.it.show(f.q))
		}
		sums = append(sums, transfer.FileSum{Path: f.stream, Size: f.size, Hash: hex.EncodeToString(h.Sum(nil))})
	}
	return sums, nil
}

// hashing is hashFiles running in the background: done is closed once
// sums and err are set.
type hashing struct {
	done chan struct{}
	sums []transfer.FileSum
	err  error
}

// startHashing runs hashFiles in the background, after gate (a test's
// hold on it; nil for none) lets it.
func (s *source) startHashing(ctx context.Context, gate func(context.Context) error) *hashing {
	h := &hashing{done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if gate != nil && s.hashable() {
			if h.err = gate(ctx); h.err != nil {
				return
			}
		}
		h.sums, h.err = s.hashFiles(ctx)
	}()
	return h
}

// wait waits for the hashes, or ctx.
func (h *hashing) wait(ctx context.Context) ([]transfer.FileSum, error) {
	select {
	case <-h.done:
		return h.sums, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashable tells whether s gets hashes (hashFiles): files on disk, at
// least one, at most transfer.MaxSums.
func (s *source) hashable() bool {
	return len(s.files) > 0 && len(s.files) <= transfer.MaxSums && int64(len(s.files)) == s.man.Files
}

// resumeAt turns the receiver's Have into the offset each file of sums is
// sent from, refusing what does not fit the offer. A held beginning the
// receiver cannot vouch for (Held.Prefix) is checked against the file:
// one that does not match is sent from zero.
func (s *source) resumeAt(sums []transfer.FileSum, have *transfer.Have) (map[string]int64, error) {
	at := map[string]int64{}
	if have == nil {
		return at, nil
	}
	if len(sums) == 0 {
		return nil, errors.New("the receiver asked to resume a transfer offered without hashes")
	}
	for _, h := range have.Files {
		if h.I < 0 || h.I >= len(sums) || h.At <= 0 || h.At > sums[h.I].Size {
			return nil, errors.New("the receiver asked to resume beyond what was offered")
		}
		p := sums[h.I].Path
		if _, dup := at[p]; dup {
			return nil, errors.New("the receiver asked to resume a file twice")
		}
		if h.Prefix != "" {
			ok, err := s.startsWith(h.I, h.At, h.Prefix)
			if err != nil {
				return nil, err
			}
			if !ok {
				at[p] = 0 // sent from zero: the receiver starts it over
				continue
			}
		}
		at[p] = h.At
	}
	for p, n := range at {
		if n == 0 {
			delete(at, p)
		}
	}
	return at, nil
}

// startsWith tells whether the first n bytes of file i hash to prefix
// (hex BLAKE3-256).
func (s *source) startsWith(i int, n int64, prefix string) (bool, error) {
	if b, err := hex.DecodeString(prefix); err != nil || len(b) != transfer.HashSize {
		return false, errors.New("the receiver sent a malformed hash of what it holds")
	}
	if i >= len(s.files) {
		return false, errors.New("the receiver asked to resume beyond what was offered")
	}
	f := s.files[i]
	r, err := f.it.fsys.Open(f.q)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", f.it.show(f.q), err)
	}
	defer r.Close()
	h := transfer.NewHash()
	m, err := io.CopyBuffer(h, io.LimitReader(r, n), make([]byte, transfer.CopyBufferSize))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", f.it.show(f.q), err)
	}
	return m == n && hex.EncodeToString(h.Sum(nil)) == prefix, nil
}

// skipTo positions r at offset: by seeking when it can, else by reading.
func skipTo(r fs.File, offset int64) error {
	if s, ok := r.(io.Seeker); ok {
		_, err := s.Seek(offset, io.SeekStart)
		return err
	}
	n, err := io.CopyN(io.Discard, r, offset)
	if err == nil && n != offset {
		err = io.ErrUnexpectedEOF
	}
	return err
}
