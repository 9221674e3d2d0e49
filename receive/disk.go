package receive

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// ErrExists means a name in the transfer is already taken in the output
// folder and overwriting was not asked for.
var ErrExists = errors.New("already exists")

// Staging names: the folder a transfer is written into before commit, the
// scratch file of a classic zip beside it, and the folder that holds what
// --overwrite replaces until the commit has succeeded.
const (
	partialPrefix = ".ferry-partial-"
	scratchSuffix = ".zip"
	backupSuffix  = ".old"
	// stalePartial is the age after which a staging folder left by a
	// receiver that was killed or crashed is removed.
	stalePartial = 24 * time.Hour
)

// maxFolderNames caps the bytes of folder names a transfer keeps in memory
// (to give each folder its mode and time once its files are in).
const maxFolderNames = 64 << 20

// dest lands a transfer in a folder without ever touching anything outside
// it: every path goes through an os.Root, everything is first written into
// a staging folder inside the target, and only commit moves the top-level
// names into place, after the stream has been authenticated.
type dest struct {
	root      *os.Root
	dir       string // the output folder, for messages
	stage     string // staging folder, relative to root
	man       transfer.Manifest
	overwrite bool
	umask     fs.FileMode
	// maxFolders is how many folders the stream may create: what the
	// sender declared (a classic sender declares none: a bound is derived).
	maxFolders int64

	tops     map[string]transfer.Entry
	topBytes map[string]int64 // bytes written under each top-level name
	files    int64
	folders  int64
	bytes    int64
	dirs     []dirMeta
	dirIndex map[string]int  // stream path → its entry in dirs
	dirNames int64           // bytes of the names in dirs
	present  map[string]bool // top-level names the stream delivered
	lastDir  string          // the folder (stream path) that last took a file: it exists
	scratch  string          // a temporary file beside stage (a classic zip), removed on close
	closed   bool
	buf      []byte // copy buffer, shared by every file
	// res, for an offer with file hashes, checks them and, when resume
	// is on, keeps the record of what is staged (resume.go).
	res       *resumer
	committed bool
}

type dirMeta struct {
	name  string // in root
	mode  fs.FileMode
	mtime time.Time
	named bool // the stream named it (else a deeper name needed it)
}

// openDest checks that the manifest's names are free in dir (unless
// overwrite), removes staging folders that earlier receivers left behind
// more than a day ago, and creates this transfer's staging folder.
func openDest(dir string, man transfer.Manifest, overwrite bool) (*dest, error) {
	return openDestResume(dir, man, overwrite, nil)
}

// destResume is how a dest resumes: not at all when nil, else resume
// unless NoResume (which discards what an earlier run kept).
type destResume struct {
	NoResume bool
	Resume
	// Checks: the sender checks what the receiver holds and cannot vouch
	// for (transfer.Held.Prefix), so such partials are offered to it.
	Checks bool
}

// openDestResume is openDest that, for an offer with file hashes, checks
// every file's hash and, as rs says, resumes what an earlier run of the
// same offer left in dir.
func openDestResume(dir string, man transfer.Manifest, overwrite bool, rs *destResume) (*dest, error) {
	if err := man.Check(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open output folder: %w", err)
	}
	d := &dest{root: root, dir: dir, man: man, overwrite: overwrite, maxFolders: man.Folders,
		tops: map[string]transfer.Entry{}, topBytes: map[string]int64{}, dirIndex: map[string]int{}, present: map[string]bool{}}
	for _, e := range man.Entries {
		d.tops[e.Name] = e
		if _, err := root.Lstat(e.Name); err == nil && !overwrite {
			root.Close()
			return nil, fmt.Errorf("%s %w in %s (use --overwrite to replace it)", transfer.Escape(e.Name), ErrExists, dir)
		}
	}
	sweepPartials(root, time.Now())
	if len(man.Sums) > 0 || man.SumsLater {
		d.res = newResumer(man)
		if rs != nil {
			if err := d.stageResumable(rs.NoResume, rs.Resume, rs.Checks); err != nil {
				d.close()
				return nil, err
			}
		}
	}
	if d.stage == "" {
		b := make([]byte, 6)
		rand.Read(b)
		d.stage = partialPrefix + hex.EncodeToString(b)
		if err := root.Mkdir(d.stage, 0o700); err != nil {
			root.Close()
			return nil, fmt.Errorf("create staging folder in %s: %w", dir, err)
		}
	}
	if d.umask, err = umaskIn(root, d.stage); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// isPartial reports whether name is a staging folder or scratch file a
// receiver creates: partialPrefix, 12 hex digits, perhaps scratchSuffix.
func isPartial(name string) bool {
	rest, ok := strings.CutPrefix(name, partialPrefix)
	if !ok {
		return false
	}
	// A backup folder (backupSuffix) is never swept: if a receiver died
	// while replacing names, it holds the old versions.
	for _, suffix := range []string{scratchSuffix, recordSuffix + ".tmp", recordSuffix} {
		if s, ok := strings.CutSuffix(rest, suffix); ok {
			rest = s
			break
		}
	}
	if len(rest) != 12 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}

// sweepPartials removes the staging names in root that were last changed
// more than stalePartial before now: what a killed or crashed receiver
// left behind. A younger one may belong to a receiver still at work.
// A staging folder with a resume record (and the record) is kept for
// staleResumable after the record last changed, for a later run to
// resume.
func sweepPartials(root *os.Root, now time.Time) {
	f, err := root.Open(".")
	if err != nil {
		return
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(256)
		for _, e := range entries {
			if !isPartial(e.Name()) || (!e.IsDir() && !e.Type().IsRegular()) {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			age, limit := now.Sub(fi.ModTime()), stalePartial
			base := partialPrefix + strings.TrimPrefix(e.Name(), partialPrefix)[:12]
			if rec, err := root.Lstat(base + recordSuffix); err == nil {
				limit = staleResumable
				age = min(age, now.Sub(rec.ModTime()))
			}
			if age > limit {
				root.RemoveAll(e.Name())
			}
		}
		if err != nil {
			return
		}
	}
}

// umaskIn learns the process's umask without changing it (syscall.Umask
// sets it for every thread): the kernel applies it to a file created in
// the staging folder with all permissions.
func umaskIn(root *os.Root, stage string) (fs.FileMode, error) {
	probe := path.Join(stage, ".umask")
	f, err := root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o777)
	if err != nil {
		return 0, fmt.Errorf("create a file in the staging folder: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	root.Remove(probe)
	if err != nil {
		return 0, err
	}
	return 0o777 &^ fi.Mode().Perm(), nil
}

// fileMode is the permission a received file gets: the sender's, never
// more than 0755 (0644 without execute), owner read and write always,
// and the receiver's umask applied.
func (d *dest) fileMode(sender fs.FileMode, exec bool) fs.FileMode {
	m := sender&0o755 | 0o600
	if !exec {
		m &^= 0o111
	}
	return m &^ d.umask
}

// dirMode is fileMode for a folder: never more than 0755, owner rwx.
func (d *dest) dirMode(sender fs.FileMode) fs.FileMode {
	return (sender&0o755 | 0o700) &^ d.umask
}

// commit moves every top-level name from staging into place, never over a
// name that appeared meanwhile (unless overwrite, which sets the old one
// aside until every name is in place). If a name cannot be moved, the
// ones already moved go back: the folder is left as it was.
func (d *dest) commit() error {
	for i := len(d.dirs) - 1; i >= 0; i-- { // children first, then parents
		m := d.dirs[i]
		d.root.Chmod(m.name, m.mode)
		if !m.mtime.IsZero() {
			d.root.Chtimes(m.name, m.mtime, m.mtime)
		}
	}
	backup := d.stage + backupSuffix
	var moved []int              // entries now in place
	replaced := map[int]string{} // entry → its old version's name in backup
	rollback := func() {
		for _, i := range moved {
			name := d.man.Entries[i].Name
			renameNoReplace(d.root, ".", name, d.stage, name)
		}
		kept := false
		for i, old := range replaced {
			if renameNoReplace(d.root, backup, old, ".", d.man.Entries[i].Name) != nil {
				kept = true // never lose the old version: it stays in backup
			}
		}
		if !kept {
			d.root.RemoveAll(backup)
		}
	}
	for i, e := range d.man.Entries {
		if _, err := d.root.Lstat(e.Name); err == nil {
			if !d.overwrite {
				rollback()
				return fmt.Errorf("%s %w (it appeared during the transfer)", transfer.Escape(e.Name), ErrExists)
			}
			if len(replaced) == 0 {
				if err := d.root.Mkdir(backup, 0o700); err != nil {
					rollback()
					return fmt.Errorf("replace %s: %w", transfer.Escape(e.Name), err)
				}
			}
			old := fmt.Sprint(i)
			if err := renameNoReplace(d.root, ".", e.Name, backup, old); err != nil {
				rollback()
				return fmt.Errorf("replace %s: %w", transfer.Escape(e.Name), err)
			}
			replaced[i] = old
		}
		if err := renameNoReplace(d.root, d.stage, e.Name, ".", e.Name); err != nil {
			rollback()
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s %w (it appeared during the transfer)", transfer.Escape(e.Name), ErrExists)
			}
			return fmt.Errorf("move %s into place: %w", transfer.Escape(e.Name), err)
		}
		moved = append(moved, i)
	}
	if len(replaced) > 0 {
		d.root.RemoveAll(backup)
	}
	d.committed = true
	return d.close()
}

// abort removes everything the transfer wrote.
func (d *dest) abort() error {
	return d.close()
}

func (d *dest) close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.scratch != "" {
		d.root.Remove(d.scratch)
	}
	if d.res != nil && d.res.close(d, d.committed) {
		return d.root.Close() // kept for a later run to resume
	}
	err := d.root.RemoveAll(d.stage)
	if cerr := d.root.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *dest) copyBuf() []byte {
	if d.buf == nil {
		d.buf = make([]byte, transfer.CopyBufferSize)
	}
	return d.buf
}
