package receive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// Resume in a later run. An offer whose manifest lists every file's size
// and hash (Manifest.Sums, from a ferry sender) is staged, when resume is
// on, in a folder whose name follows from the offer's top-level names
// (stageID) instead of a random one, with a record beside it
// (.ferry-partial-ID.resume) that says how many bytes of which file are
// there, synced, and what they hash to. A receiver that fails keeps both;
// the next receiver of an offer with the same names in the same folder
// finds them, re-reads and checks what each record entry claims, and
// tells the sender (transfer.Have) where to go on. Every file's hash is
// checked before anything gets its final name.

const (
	recordSuffix  = ".resume"
	recordVersion = 1
	// staleResumable is how long a staging folder with a record is kept
	// (since the record last changed): long enough to resume after a
	// weekend, then swept like any other partial.
	staleResumable = 7 * 24 * time.Hour
	// checkpointEvery and checkpointBytes bound what a crash loses: the
	// record is brought up to date (data synced first) at least this often.
	checkpointEvery = time.Second
	checkpointBytes = 32 << 20
)

// stageIdentity is the offer's identity for resume: its top-level names.
// Contents are matched file by file (path, size and hash).
func stageIdentity(man transfer.Manifest) string {
	h := sha256.New()
	io.WriteString(h, "ferry resume v1")
	for _, e := range man.Entries {
		fmt.Fprintf(h, "\x00%s\x00%t", e.Name, e.Dir)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Resume tells about what a receiver resumes or starts over.
type Resume struct {
	OnResume  func(name string, at, size int64) // a top-level name goes on from at of size bytes
	OnRestart func(name, why string)            // a file's partial is not used: why
	// OnSums is told when the file hashes that a sender sent after its
	// offer (it was still hashing) arrived: from then on what arrives
	// can be resumed by a later run.
	OnSums func()
}

// resumer is a transfer's hash checks and, when persist, its record.
type resumer struct {
	sums    []transfer.FileSum
	persist bool
	held    []int64     // verified bytes on disk, per file (persist only)
	hashers []hash.Hash // their hash state, for the files held
	next    int         // the next file the stream must carry
	ents    map[int]recordEnt
	id      string
	lock    *os.File
	pending []int // completed files not synced since the last checkpoint
	last    time.Time
	since   int64 // bytes written since the last checkpoint
	tell    Resume
	// busy holds a token while a checkpoint is being written (in the
	// background during the stream); err is the first that failed.
	busy chan struct{}
	mu   sync.Mutex
	err  error
	// late: the offer said its sums follow (late.go), and they have not
	// been taken yet; sums then lists the files the stream carried so
	// far, without hashes, pax the hash each one's tar entry gave (if
	// any) and computed the hash of each complete one. box is where the
	// sums arrive; files caps the files the stream may carry.
	late     bool
	box      *sumsBox
	pax      []string
	computed []string
	files    int64
	// checks: the sender checks the held beginnings that arrived before
	// its hashes (an earlier run's), unverified; it vouches for one by
	// resuming it, and sends the file from zero otherwise.
	checks     bool
	unverified map[int]string // file → the hash of what is held of it
}

// newResumer is the resumer of an offer with sums, or whose sums follow.
func newResumer(man transfer.Manifest) *resumer {
	return &resumer{sums: man.Sums, late: man.SumsLater && len(man.Sums) == 0, files: man.Files}
}

// stageResumable sets d up to resume: the staging folder and record for
// the offer's names, locked; what they hold is checked against the offer.
// It falls back to a fresh staging folder (no resume) when another
// receiver holds the lock.
func (d *dest) stageResumable(noResume bool, tell Resume, checks bool) error {
	r := newResumer(d.man)
	r.ents, r.id, r.tell, r.busy = map[int]recordEnt{}, stageIdentity(d.man), tell, make(chan struct{}, 1)
	r.checks, r.unverified = checks, map[int]string{}
	d.res = r
	stage := partialPrefix + r.id[:12]
	if noResume {
		if lock, err := lockStage(d.root, stage); err == nil {
			d.root.RemoveAll(stage)
			d.root.Remove(stage + recordSuffix)
			lock.Close()
		}
		return nil
	}
	if err := d.root.Mkdir(stage, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create staging folder in %s: %w", d.dir, err)
	}
	lock, err := lockStage(d.root, stage)
	if err != nil {
		return nil // another receiver is at it: this one does not resume
	}
	r.lock, r.persist, r.held, r.hashers = lock, true, make([]int64, len(r.sums)), make([]hash.Hash, len(r.sums))
	d.stage = stage
	r.load(d)
	return r.checkpoint(d, -1, 0, nil)
}

// load reads the record and keeps each entry whose file still matches
// the offer and whose bytes on disk still hash to what it says; the
// rest of the staging folder is cleared.
func (r *resumer) load(d *dest) {
	var rec record
	b, err := readLimited(d.root, d.stage+recordSuffix, maxRecord)
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil || rec.Version != recordVersion || rec.ID != r.id {
		rec.Files = nil
	}
	byPath := map[string]recordEnt{}
	for _, e := range rec.Files {
		byPath[e.Path] = e
	}
	if r.late { // nothing could match (couldResume): nothing is kept
		for _, e := range rec.Files {
			if top, _, _ := strings.Cut(e.Path, "/"); e.Have > 0 && e.Hash == "" && d.tops[top].Name == top {
				r.restart(e.Path, unhashedPartial)
			}
		}
	}
	keep := map[string]bool{}
	for i, s := range r.sums {
		e, ok := byPath[s.Path]
		if !ok || e.Have <= 0 {
			continue
		}
		if e.Hash == "" && !r.checks {
			r.restart(s.Path, unhashedPartial)
			continue
		}
		if e.Size != s.Size || (e.Hash != "" && e.Hash != s.Hash) || e.Have > s.Size {
			r.restart(s.Path, "it changed on the sending side since the last run")
			continue
		}
		h, err := hashPrefix(d.root, path.Join(d.stage, s.Path), e.Have)
		if err != nil || hex.EncodeToString(h.Sum(nil)) != e.Prefix {
			r.restart(s.Path, "its partial was changed on disk since the last run")
			continue
		}
		r.held[i], r.hashers[i], r.ents[i] = e.Have, h, e
		if e.Hash == "" { // for the sender to check
			r.unverified[i] = e.Prefix
		}
		keep[s.Path] = true
	}
	dirs := map[string]bool{}
	for k := range keep {
		for dir := path.Dir(k); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
		}
	}
	clearStage(d.root, d.stage, "", keep, dirs)
	at, size := map[string]int64{}, map[string]int64{}
	for i, s := range r.sums {
		top, _, _ := strings.Cut(s.Path, "/")
		at[top] += r.held[i]
		size[top] += s.Size
	}
	for _, e := range d.man.Entries {
		if at[e.Name] > 0 && r.tell.OnResume != nil {
			r.tell.OnResume(e.Name, at[e.Name], size[e.Name])
		}
	}
}

// unhashedPartial is why a partial written before the sender's hashes
// arrived is not resumed.
const unhashedPartial = "its partial arrived before the sender's file hashes, so it cannot be checked against this offer"

func (r *resumer) restart(name, why string) {
	if r.tell.OnRestart != nil {
		r.tell.OnRestart(name, why)
	}
}

// have is the answer to the sender: what is held.
func (r *resumer) have() *transfer.Have {
	h := &transfer.Have{Files: []transfer.Held{}}
	for i, n := range r.held {
		if n > 0 {
			h.Files = append(h.Files, transfer.Held{I: i, At: n, Prefix: r.unverified[i]})
		}
	}
	return h
}

// heldBytes is what is held in all.
func (r *resumer) heldBytes() int64 {
	var n int64
	for _, h := range r.held {
		n += h
	}
	return n
}

// begin checks a stream's file entry against the offer and returns where
// its bytes start and the hash to go on with.
func (r *resumer) begin(d *dest, name string, size int64, pax map[string]string) (int64, hash.Hash, error) {
	if err := r.catchUp(d); err != nil {
		return 0, nil, err
	}
	if r.late {
		offset, err := r.beginLate(name, size, pax)
		return offset, transfer.NewHash(), err
	}
	if r.next >= len(r.sums) || r.sums[r.next].Path != name {
		return 0, nil, fmt.Errorf("stream has \"%s\" where the offer listed another file", transfer.Escape(name))
	}
	s := r.sums[r.next]
	if v, ok := pax[transfer.PAXHash]; (ok || r.box == nil) && v != s.Hash { // optional when the sums came late
		return 0, nil, fmt.Errorf("stream gives \"%s\" another hash than the offer", transfer.Escape(name))
	}
	var offset int64
	if v, ok := pax[transfer.PAXOffset]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, nil, fmt.Errorf("stream resumes \"%s\" at a malformed offset", transfer.Escape(name))
		}
		offset = n
	}
	var held int64
	if r.persist {
		held = r.held[r.next]
	}
	if _, ok := r.unverified[r.next]; ok {
		delete(r.unverified, r.next)
		if offset == 0 { // the sender's file does not start with what is held
			r.restart(name, "it changed on the sending side since the last run")
			r.held[r.next], r.hashers[r.next], held = 0, nil, 0
			delete(r.ents, r.next)
		} else if e, ok := r.ents[r.next]; ok { // the sender vouched for it
			e.Hash = s.Hash
			r.ents[r.next] = e
		}
	}
	if offset != held {
		return 0, nil, fmt.Errorf("the sender resumed \"%s\" at byte %d, but the receiver holds %d", transfer.Escape(name), offset, held)
	}
	if size != s.Size-offset {
		return 0, nil, fmt.Errorf("stream has %d bytes of \"%s\" from byte %d; the offer declared %d in all", size, transfer.Escape(name), offset, s.Size)
	}
	h := transfer.NewHash()
	if offset > 0 {
		h = r.hashers[r.next]
		r.hashers[r.next] = nil
	}
	return offset, h, nil
}

// progress is told that the current file (index r.next) now holds n
// bytes hashed by h, written more; now and then it brings the record up
// to date, in the background.
func (r *resumer) progress(d *dest, n int64, written int64, h hash.Hash) error {
	if !r.persist {
		return nil
	}
	r.since += written
	if r.since < checkpointBytes && time.Since(r.last) < checkpointEvery {
		return nil
	}
	if err := r.catchUp(d); err != nil {
		return err
	}
	return r.checkpointAsync(d, r.next, n, h)
}

// end finishes the current file: its hash must be the offered one. A
// file that does not match is removed, so that a new run starts it over.
func (r *resumer) end(d *dest, staged string, h hash.Hash) error {
	if err := r.catchUp(d); err != nil {
		return err
	}
	i := r.next
	r.next++
	s := r.sums[i]
	if r.late { // checked once the sums arrive (adopt)
		sum := hex.EncodeToString(h.Sum(nil))
		r.computed = append(r.computed, sum)
		if r.persist {
			r.ents[i] = recordEnt{Path: s.Path, Size: s.Size, Have: s.Size, Prefix: sum}
			r.pending = append(r.pending, i)
		}
		return nil
	}
	if hex.EncodeToString(h.Sum(nil)) != s.Hash {
		delete(r.ents, i)
		d.root.Remove(staged)
		if r.persist {
			r.checkpoint(d, -1, 0, nil)
		}
		return fmt.Errorf("\"%s\" does not match the hash the sender offered: its partial is discarded, the next transfer starts it from zero", transfer.Escape(s.Path))
	}
	if r.persist {
		r.ents[i] = recordEnt{Path: s.Path, Size: s.Size, Hash: s.Hash, Have: s.Size, Prefix: s.Hash}
		r.pending = append(r.pending, i)
	}
	return nil
}

// failed records, after a failure in the current file, what of it is on
// disk (n bytes hashed by h), so that the next run goes on from there.
func (r *resumer) failed(d *dest, n int64, h hash.Hash) {
	r.catchUp(d) // the record names the hashes, if they came
	if r.persist && n > 0 {
		r.checkpoint(d, r.next, n, h)
	}
}

// close ends resume for this transfer: after a commit the record goes;
// after a failure it stays, up to date, unless it holds nothing.
func (r *resumer) close(d *dest, committed bool) (keep bool) {
	if !r.persist {
		return false
	}
	defer r.lock.Close()
	r.busy <- struct{}{} // no checkpoint in flight from here on
	<-r.busy
	if committed || len(r.ents) == 0 {
		d.root.Remove(d.stage + recordSuffix)
		return false
	}
	if r.catchUp(d); r.late && r.box.refused() != nil {
		// the sums came and were refused: nothing here is kept. When they
		// never came (the sender went away while it was still hashing, as
		// netns TestResume's did on a loaded machine), what arrived is kept
		// as after a crash: recorded
		// with the hash of the bytes on disk alone, it is offered to the
		// next sender, which resumes it only if its file starts with them
		clear(r.ents)
		d.root.Remove(d.stage + recordSuffix)
		return false
	}
	r.checkpoint(d, -1, 0, nil)
	return true
}

// couldResume tells whether dir holds a partial an earlier run of an offer
// like man left that could match it (a file of one of its names, of a
// size that fits) with the sender's hash, or without one for a sender
// that checks (checks): then its sums are needed to know what is held.
func couldResume(dir string, man transfer.Manifest, checks bool) bool {
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer root.Close()
	id := stageIdentity(man)
	b, err := readLimited(root, partialPrefix+id[:12]+recordSuffix, maxRecord)
	if err != nil {
		return false
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || rec.Version != recordVersion || rec.ID != id {
		return false
	}
	tops := map[string]transfer.Entry{}
	for _, e := range man.Entries {
		tops[e.Name] = e
	}
	for _, e := range rec.Files {
		top, rest, _ := strings.Cut(e.Path, "/")
		t, ok := tops[top]
		if e.Have <= 0 || (e.Hash == "" && !checks) || !ok || t.Dir != (rest != "") || e.Size > t.Size || (!t.Dir && e.Size != t.Size) {
			continue
		}
		return true
	}
	return false
}

// hashPrefix hashes the first n bytes of the file name.
func hashPrefix(root *os.Root, name string, n int64) (hash.Hash, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	h := transfer.NewHash()
	m, err := io.CopyBuffer(h, io.LimitReader(f, n), make([]byte, transfer.CopyBufferSize))
	if err != nil {
		return nil, err
	}
	if m != n {
		return nil, io.ErrUnexpectedEOF
	}
	return h, nil
}

// clearStage removes from the staging folder (below dir) everything but
// the files in keep and the folders above them (dirs).
func clearStage(root *os.Root, stage, dir string, keep, dirs map[string]bool) {
	f, err := root.Open(path.Join(stage, dir))
	if err != nil {
		return
	}
	entries, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range entries {
		name := path.Join(dir, e.Name())
		switch {
		case e.Type().IsRegular() && keep[name]:
		case e.IsDir() && dirs[name]:
			clearStage(root, stage, name, keep, dirs)
		default:
			root.RemoveAll(path.Join(stage, name))
		}
	}
}

// openStaged opens a staged file for writing at offset: a new file
// (O_EXCL) without resume; with it, a file an earlier run may have left
// (cut to offset, which the record vouches for).
func (d *dest) openStaged(staged string, offset int64) (*os.File, error) {
	if d.res == nil || !d.res.persist {
		return d.root.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if offset == 0 {
		return d.root.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	f, err := d.root.OpenFile(staged, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(offset); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// copyHashed copies r to f (which holds offset bytes so far) through the
// hash h, telling the resumer as it goes; it returns the bytes copied.
func (d *dest) copyHashed(f *os.File, r io.Reader, offset int64, h hash.Hash) (int64, error) {
	buf := d.copyBuf()
	var n int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := f.Write(buf[:k]); err != nil {
				return n, err
			}
			h.Write(buf[:k])
			n += int64(k)
			if err := d.res.progress(d, offset+n, int64(k), h); err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// resumedDir says whether a folder that could not be made (err) is one
// an earlier run of this transfer made: then it is used as it is.
func (d *dest) resumedDir(staged string, err error) bool {
	if d.res == nil || !d.res.persist || !errors.Is(err, fs.ErrExist) {
		return false
	}
	fi, lerr := d.root.Lstat(staged)
	return lerr == nil && fi.IsDir()
}
