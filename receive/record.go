package receive

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"
)

// record is what the record file (.ferry-partial-ID.resume) holds.
type record struct {
	Version int         `json:"version"`
	ID      string      `json:"id"` // the offer's identity: stageIdentity
	Files   []recordEnt `json:"files"`
}

// recordEnt says that the first Have bytes of the file Path (offered with
// Size and Hash) are on disk, synced, and hash to Prefix.
type recordEnt struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Hash   string `json:"blake3"`
	Have   int64  `json:"have"`
	Prefix string `json:"prefix"`
}

// maxRecord caps the record file read back.
const maxRecord = 64 << 20

// snapshot is a checkpoint to write: the staged files to sync first, and
// the record that may then claim them.
type snapshot struct {
	sync []string
	rec  record
}

// snap takes a checkpoint of what is staged: the files completed since
// the last one and the current file cur (n bytes so far, hashed by h).
func (r *resumer) snap(d *dest, cur int, n int64, h hash.Hash) snapshot {
	var s snapshot
	for _, i := range r.pending {
		s.sync = append(s.sync, path.Join(d.stage, r.sums[i].Path))
	}
	r.pending = r.pending[:0]
	if cur >= 0 && n > 0 {
		c := r.sums[cur]
		s.sync = append(s.sync, path.Join(d.stage, c.Path))
		r.ents[cur] = recordEnt{Path: c.Path, Size: c.Size, Hash: c.Hash, Have: n, Prefix: hex.EncodeToString(h.Sum(nil))}
	}
	s.rec = record{Version: recordVersion, ID: r.id, Files: []recordEnt{}}
	for i := range r.sums {
		if e, ok := r.ents[i]; ok {
			s.rec.Files = append(s.rec.Files, e)
		}
	}
	r.last, r.since = time.Now(), 0
	return s
}

// checkpoint brings the record up to date and waits until it is written.
func (r *resumer) checkpoint(d *dest, cur int, n int64, h hash.Hash) error {
	r.busy <- struct{}{} // after the one in flight, if any
	err := writeRecord(d, r.snap(d, cur, n, h))
	<-r.busy
	if err != nil {
		return err
	}
	return r.failure()
}

// checkpointAsync does the same in the background, so that the stream
// does not wait for the disk; it skips a checkpoint while one is under way.
func (r *resumer) checkpointAsync(d *dest, cur int, n int64, h hash.Hash) error {
	if err := r.failure(); err != nil {
		return err
	}
	select {
	case r.busy <- struct{}{}:
	default:
		return nil
	}
	s := r.snap(d, cur, n, h)
	go func() {
		if err := writeRecord(d, s); err != nil {
			r.mu.Lock()
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
		}
		<-r.busy
	}()
	return nil
}

func (r *resumer) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// writeRecord syncs the snapshot's files, then replaces the record (written
// aside, synced, renamed into place), so that it never claims bytes that
// are not on disk.
func writeRecord(d *dest, s snapshot) error {
	for _, name := range s.sync {
		f, err := d.root.Open(name)
		if err != nil {
			return fmt.Errorf("sync a staged file: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync a staged file: %w", err)
		}
	}
	b, err := json.Marshal(s.rec)
	if err != nil {
		return err
	}
	tmp := d.stage + recordSuffix + ".tmp"
	g, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the resume record: %w", err)
	}
	_, err = g.Write(b)
	if serr := g.Sync(); err == nil {
		err = serr
	}
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, d.stage+recordSuffix)
	}
	if err != nil {
		return fmt.Errorf("write the resume record: %w", err)
	}
	if dir, err := d.root.Open("."); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// readLimited reads a small file of at most max bytes.
func readLimited(root *os.Root, name string, max int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, errors.New("too large")
	}
	return buf.Bytes(), nil
}
