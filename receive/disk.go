package receive

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// dest lands a transfer in a folder without ever touching anything outside
// it: every path goes through an os.Root, everything is first written into
// a staging folder inside the target, and only commit moves the top-level
// names into place, after the stream has been authenticated.
type dest struct {
	root      *os.Root
	stage     string // staging folder, relative to root
	man       transfer.Manifest
	overwrite bool

	tops    map[string]transfer.Entry
	files   int64
	bytes   int64
	dirs    []dirMeta
	present map[string]bool // top-level names the stream delivered
	scratch string          // a temporary file beside stage (a classic zip), removed on close
	closed  bool
	buf     []byte // copy buffer, shared by every file
}

type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

// openDest checks that the manifest's names are free in dir (unless
// overwrite) and creates the staging folder.
func openDest(dir string, man transfer.Manifest, overwrite bool) (*dest, error) {
	if err := man.Check(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open output folder: %w", err)
	}
	d := &dest{root: root, man: man, overwrite: overwrite, tops: map[string]transfer.Entry{}, present: map[string]bool{}}
	for _, e := range man.Entries {
		d.tops[e.Name] = e
		if _, err := root.Lstat(e.Name); err == nil && !overwrite {
			root.Close()
			return nil, fmt.Errorf("%s %w in %s (use --overwrite to replace it)", transfer.Escape(e.Name), ErrExists, dir)
		}
	}
	b := make([]byte, 6)
	rand.Read(b)
	d.stage = ".ferry-partial-" + hex.EncodeToString(b)
	if err := root.Mkdir(d.stage, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("create staging folder in %s: %w", dir, err)
	}
	return d, nil
}

// extractTar writes a tar stream's entries into the staging folder,
// refusing anything that is not a plain file or folder under one of the
// manifest's names, and any size beyond what the manifest declared.
func (d *dest) extractTar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return d.checkComplete()
		}
		if err != nil {
			return fmt.Errorf("read transfer stream: %w", err)
		}
		name, err := d.checkPath(hdr.Name)
		if err != nil {
			return err
		}
		top, _, _ := strings.Cut(name, "/")
		entry := d.tops[top]
		staged := path.Join(d.stage, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !entry.Dir {
				return fmt.Errorf("stream has a folder \"%s\" where the manifest declared a file", transfer.Escape(name))
			}
			if err := d.root.MkdirAll(staged, 0o700); err != nil {
				return fmt.Errorf("create folder %s: %w", transfer.Escape(name), err)
			}
			d.dirs = append(d.dirs, dirMeta{name: staged, mode: fs.FileMode(hdr.Mode) & fs.ModePerm, mtime: hdr.ModTime})
		case tar.TypeReg:
			if !entry.Dir && name != top {
				return fmt.Errorf("stream puts \"%s\" inside the file \"%s\"", transfer.Escape(name), transfer.Escape(top))
			}
			if err := d.writeFile(staged, name, hdr.Size, fs.FileMode(hdr.Mode)&fs.ModePerm, hdr.ModTime, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("refusing \"%s\": links and special files are not accepted", transfer.Escape(name))
		}
		d.present[top] = true
	}
}

// checkPath validates one stream path and returns it cleaned.
func (d *dest) checkPath(p string) (string, error) {
	if len(p) > transfer.MaxPathLen {
		return "", fmt.Errorf("refusing a path longer than %d bytes", transfer.MaxPathLen)
	}
	clean := strings.TrimSuffix(p, "/")
	if clean == "" || strings.HasPrefix(clean, "/") || path.Clean(clean) != clean {
		return "", fmt.Errorf("refusing path \"%s\": not a plain relative path", transfer.Escape(p))
	}
	for _, part := range strings.Split(clean, "/") {
		if err := transfer.CheckName(part); err != nil {
			return "", fmt.Errorf("refusing path \"%s\": %w", transfer.Escape(p), err)
		}
	}
	top, _, _ := strings.Cut(clean, "/")
	if _, ok := d.tops[top]; !ok {
		return "", fmt.Errorf("refusing \"%s\": not under a name the sender declared", transfer.Escape(p))
	}
	return clean, nil
}

func (d *dest) writeFile(staged, name string, size int64, mode fs.FileMode, mtime time.Time, r io.Reader) error {
	if size < 0 || (d.man.Bytes != transfer.UnknownSize && size > d.man.Bytes-d.bytes) {
		return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
	}
	if d.files++; d.files > d.man.Files {
		return fmt.Errorf("stream has more files than the %d the sender declared", d.man.Files)
	}
	if err := d.root.MkdirAll(path.Dir(staged), 0o700); err != nil {
		return fmt.Errorf("create folder for %s: %w", transfer.Escape(name), err)
	}
	f, err := d.root.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", transfer.Escape(name), err)
	}
	n, err := transfer.Copy(f, io.LimitReader(r, size), d.copyBuf())
	d.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", transfer.Escape(name), err)
	}
	if n != size {
		return fmt.Errorf("%s: stream ended after %d of %d bytes", transfer.Escape(name), n, size)
	}
	if err := d.root.Chmod(staged, mode); err != nil {
		return fmt.Errorf("set mode of %s: %w", transfer.Escape(name), err)
	}
	if !mtime.IsZero() {
		if err := d.root.Chtimes(staged, mtime, mtime); err != nil {
			return fmt.Errorf("set time of %s: %w", transfer.Escape(name), err)
		}
	}
	return nil
}

// writeRaw stores a stream of unknown structure (stdin on the sender) as
// the manifest's single file.
func (d *dest) writeRaw(r io.Reader) error {
	e := d.man.Entries[0]
	if len(d.man.Entries) != 1 || e.Dir {
		return errors.New("a raw stream must carry exactly one file")
	}
	limit := int64(1<<63 - 1)
	if e.Size != transfer.UnknownSize {
		limit = e.Size + 1 // one more byte reveals a longer stream
	}
	staged := path.Join(d.stage, e.Name)
	f, err := d.root.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", transfer.Escape(e.Name), err)
	}
	n, err := transfer.Copy(f, io.LimitReader(r, limit), nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", transfer.Escape(e.Name), err)
	}
	if e.Size != transfer.UnknownSize && n != e.Size {
		return fmt.Errorf("%s: sender declared %d bytes but sent %d or more", transfer.Escape(e.Name), e.Size, n)
	}
	d.files, d.bytes = 1, n
	d.present[e.Name] = true
	return d.root.Chmod(staged, 0o644)
}

func (d *dest) checkComplete() error {
	if d.files != d.man.Files {
		return fmt.Errorf("stream has %d files; the sender declared %d", d.files, d.man.Files)
	}
	if d.man.Bytes != transfer.UnknownSize && d.bytes != d.man.Bytes {
		return fmt.Errorf("stream has %d bytes; the sender declared %d", d.bytes, d.man.Bytes)
	}
	for name := range d.tops {
		if !d.present[name] {
			return fmt.Errorf("stream lacks \"%s\", which the sender declared", transfer.Escape(name))
		}
	}
	return nil
}

// commit moves every top-level name from staging into place. Call it only
// once the whole stream authenticated.
func (d *dest) commit() error {
	for i := len(d.dirs) - 1; i >= 0; i-- { // children first, then parents
		m := d.dirs[i]
		d.root.Chmod(m.name, m.mode)
		if !m.mtime.IsZero() {
			d.root.Chtimes(m.name, m.mtime, m.mtime)
		}
	}
	for _, e := range d.man.Entries {
		if d.overwrite {
			if err := d.root.RemoveAll(e.Name); err != nil {
				return fmt.Errorf("replace %s: %w", transfer.Escape(e.Name), err)
			}
		} else if _, err := d.root.Lstat(e.Name); err == nil {
			return fmt.Errorf("%s %w (it appeared during the transfer)", transfer.Escape(e.Name), ErrExists)
		}
		if err := d.root.Rename(path.Join(d.stage, e.Name), e.Name); err != nil {
			return fmt.Errorf("move %s into place: %w", transfer.Escape(e.Name), err)
		}
	}
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
