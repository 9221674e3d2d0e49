package receive

import (
	"archive/tar"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// extractTar writes a tar stream's entries into the staging folder,
// refusing anything that is not a plain file or folder under one of the
// manifest's names, a file where a folder was declared (or the reverse),
// and more files, folders or bytes than the manifest declared, in all and
// under each top-level name.
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
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !entry.Dir {
				return fmt.Errorf("stream has a folder \"%s\" where the manifest declared a file", transfer.Escape(name))
			}
			if err := d.ensureParents(name); err != nil {
				return err
			}
			if err := d.mkdir(name, fs.FileMode(hdr.Mode)&fs.ModePerm, hdr.ModTime, true); err != nil {
				return err
			}
		case tar.TypeReg:
			if entry.Dir && name == top {
				return fmt.Errorf("stream has a file \"%s\" where the manifest declared a folder", transfer.Escape(name))
			}
			if !entry.Dir && name != top {
				return fmt.Errorf("stream puts \"%s\" inside the file \"%s\"", transfer.Escape(name), transfer.Escape(top))
			}
			if err := d.writeFile(name, hdr.Size, fs.FileMode(hdr.Mode)&fs.ModePerm, hdr.ModTime, tr, hdr.PAXRecords); err != nil {
				return err
			}
		default:
			return fmt.Errorf("refusing \"%s\": links and special files are not accepted", transfer.Escape(name))
		}
		d.present[top] = true
	}
}

// checkPath validates one stream path and returns it cleaned.
func (d *dest) checkPath(p string) (string, error) { return checkStreamPath(d.tops, p) }

// checkStreamPath validates one stream path against the manifest's
// top-level names and returns it cleaned.
func checkStreamPath(tops map[string]transfer.Entry, p string) (string, error) {
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
	if _, ok := tops[top]; !ok {
		return "", fmt.Errorf("refusing \"%s\": not under a name the sender declared", transfer.Escape(p))
	}
	return clean, nil
}

// mkdir creates the folder name (a stream path) in the staging folder and
// counts it against the folders the sender declared. Each folder is made
// and recorded once: naming it again is refused (repeating a folder costs
// the receiver nothing), except that a folder first made because a deeper
// name needed it may be named once, which gives it its mode and time.
func (d *dest) mkdir(name string, mode fs.FileMode, mtime time.Time, named bool) error {
	if i, ok := d.dirIndex[name]; ok {
		if !named {
			return nil
		}
		if d.dirs[i].named {
			return fmt.Errorf("stream has the folder \"%s\" twice", transfer.Escape(name))
		}
		d.dirs[i] = dirMeta{name: d.dirs[i].name, mode: d.dirMode(mode), mtime: mtime, named: true}
		return nil
	}
	if d.folders++; d.folders > d.maxFolders {
		return fmt.Errorf("stream has more folders than the %d the sender declared", d.maxFolders)
	}
	if d.dirNames += int64(len(name)); d.dirNames > maxFolderNames {
		return fmt.Errorf("the stream's folder names take more than %d MiB", maxFolderNames>>20)
	}
	staged := path.Join(d.stage, name)
	if err := d.root.Mkdir(staged, 0o700); err != nil && !d.resumedDir(staged, err) {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("stream has a folder \"%s\" where it has a file", transfer.Escape(name))
		}
		return fmt.Errorf("create folder %s: %w", transfer.Escape(name), err)
	}
	d.dirIndex[name] = len(d.dirs)
	d.dirs = append(d.dirs, dirMeta{name: staged, mode: d.dirMode(mode), mtime: mtime, named: named})
	return nil
}

// ensureParents creates the folders above name that the stream has not
// named yet, each counted like a named one.
func (d *dest) ensureParents(name string) error {
	dir := path.Dir(name)
	if dir == "." || dir == d.lastDir {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		if err := d.mkdir(dir[:i], 0o755, time.Time{}, false); err != nil {
			return err
		}
	}
	d.lastDir = dir
	return nil
}

// writeFile lands one file of the stream (name is its stream path) of
// size bytes from r. With file hashes (d.res), pax are its tar entry's
// records: where its bytes start, when the receiver resumes it.
func (d *dest) writeFile(name string, size int64, mode fs.FileMode, mtime time.Time, r io.Reader, pax map[string]string) error {
	top, _, _ := strings.Cut(name, "/")
	entry := d.tops[top]
	if size < 0 {
		return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
	}
	var offset int64
	var h hash.Hash
	if d.res != nil {
		var err error
		if offset, h, err = d.res.begin(d, name, size, pax); err != nil {
			return err
		}
	}
	full := offset + size
	if (d.man.Bytes != transfer.UnknownSize && full > d.man.Bytes-d.bytes) ||
		(entry.Size != transfer.UnknownSize && full > entry.Size-d.topBytes[top]) {
		return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
	}
	if d.files++; d.files > d.man.Files {
		return fmt.Errorf("stream has more files than the %d the sender declared", d.man.Files)
	}
	if err := d.ensureParents(name); err != nil {
		return err
	}
	staged := path.Join(d.stage, name)
	f, err := d.openStaged(staged, offset)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("stream has \"%s\" twice", transfer.Escape(name))
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", transfer.Escape(name), err)
	}
	var n int64
	if d.res == nil {
		n, err = transfer.Copy(f, io.LimitReader(r, size), d.copyBuf())
	} else {
		n, err = d.copyHashed(f, io.LimitReader(r, size), offset, h)
		if err != nil || n != size {
			d.res.failed(d, offset+n, h)
		}
	}
	d.bytes += offset + n
	d.topBytes[top] += offset + n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", transfer.Escape(name), err)
	}
	if n != size {
		return fmt.Errorf("%s: stream ended after %d of %d bytes", transfer.Escape(name), offset+n, full)
	}
	if d.res != nil {
		if err := d.res.end(d, staged, h); err != nil {
			return err
		}
	}
	// A top-level file is executable only if the offer said so: the
	// prompt named it as such.
	exec := name != top || entry.Exec
	if err := d.root.Chmod(staged, d.fileMode(mode, exec)); err != nil {
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
	return d.root.Chmod(staged, d.fileMode(0o644, false))
}

func (d *dest) checkComplete() error {
	return checkComplete(d.man, d.tops, d.present, d.topBytes, d.files, d.bytes)
}

// checkComplete says whether a stream, now ended, delivered what the
// manifest declared: every top-level name, and as many files and bytes
// (in all and under each name).
func checkComplete(man transfer.Manifest, tops map[string]transfer.Entry, present map[string]bool, topBytes map[string]int64, files, bytes int64) error {
	if files != man.Files {
		return fmt.Errorf("stream has %d files; the sender declared %d", files, man.Files)
	}
	if man.Bytes != transfer.UnknownSize && bytes != man.Bytes {
		return fmt.Errorf("stream has %d bytes; the sender declared %d", bytes, man.Bytes)
	}
	for name, e := range tops {
		if !present[name] {
			return fmt.Errorf("stream lacks \"%s\", which the sender declared", transfer.Escape(name))
		}
		if e.Size != transfer.UnknownSize && topBytes[name] != e.Size {
			return fmt.Errorf("stream has %d bytes for \"%s\"; the sender declared %d", topBytes[name], transfer.Escape(name), e.Size)
		}
	}
	return nil
}

// renameChecked is renameNoReplace where the system has no atomic form:
// a file is linked to its new name (which fails if the name exists) and
// then unlinked; a folder is checked, then renamed.
func renameChecked(root *os.Root, oldDir, oldName, newDir, newName string) error {
	oldPath, newPath := path.Join(oldDir, oldName), path.Join(newDir, newName)
	fi, err := root.Lstat(oldPath)
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		if err := root.Link(oldPath, newPath); err == nil {
			return root.Remove(oldPath)
		} else if errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if _, err := root.Lstat(newPath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: fs.ErrExist}
	}
	return root.Rename(oldPath, newPath)
}
