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
	if len(s.files) == 0 || len(s.files) > transfer.MaxSums || int64(len(s.files)) != s.man.Files {
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

// startHashing runs hashFiles in the background; wait returns its result.
func (s *source) startHashing(ctx context.Context) (wait func() ([]transfer.FileSum, error)) {
	type result struct {
		sums []transfer.FileSum
		err  error
	}
	c := make(chan result, 1)
	go func() {
		sums, err := s.hashFiles(ctx)
		c <- result{sums, err}
	}()
	return func() ([]transfer.FileSum, error) {
		r := <-c
		return r.sums, r.err
	}
}

// resumeAt turns the receiver's Have into the offset each file of sums is
// sent from, refusing what does not fit the offer.
func resumeAt(sums []transfer.FileSum, have *transfer.Have) (map[string]int64, error) {
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
		at[p] = h.At
	}
	return at, nil
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
