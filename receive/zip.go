package receive

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// writeZip lands a classic sender's folder: the zip (size bytes from r)
// goes to a scratch file beside the staging folder, since a zip is read
// from its end; then every entry is extracted into the staging folder
// under the offer's single folder name, with the same rules as ferry's
// own folders: plain relative names only, no links or special files, no
// duplicates, no more files or bytes than the offer declared.
func (d *dest) writeZip(r io.Reader, size int64) error {
	top := d.man.Entries[0]
	if len(d.man.Entries) != 1 || !top.Dir {
		return errors.New("a zip must carry exactly one folder")
	}
	d.scratch = d.stage + ".zip"
	f, err := d.root.OpenFile(d.scratch, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary zip file: %w", err)
	}
	defer f.Close()
	n, err := transfer.Copy(f, io.LimitReader(r, size+1), d.copyBuf())
	if err != nil {
		return fmt.Errorf("receive the zip: %w", err)
	}
	if n != size {
		return fmt.Errorf("the sender declared a zip of %d bytes but sent %d", size, n)
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("read the zip: %w", err)
	}
	if int64(len(zr.File)) > 2*d.man.Files+transfer.MaxEntries {
		return fmt.Errorf("the zip lists %d entries for %d files", len(zr.File), d.man.Files)
	}
	if err := d.root.Mkdir(path.Join(d.stage, top.Name), 0o700); err != nil {
		return fmt.Errorf("create folder %s: %w", transfer.Escape(top.Name), err)
	}
	d.present[top.Name] = true
	d.dirs = append(d.dirs, dirMeta{name: path.Join(d.stage, top.Name), mode: 0o755})
	seen := make(map[string]byte, len(zr.File))
	for _, zf := range zr.File {
		if err := d.extractZipEntry(zf, top.Name, seen); err != nil {
			return err
		}
	}
	return nil
}

// Kinds of names in a zip: a file, a folder entry, a folder implied by a
// deeper name.
const (
	zipFile     = 'f'
	zipDir      = 'd'
	zipImplicit = 'i'
)

func (d *dest) extractZipEntry(zf *zip.File, top string, seen map[string]byte) error {
	name, err := d.checkPath(top + "/" + zf.Name)
	if err != nil {
		return fmt.Errorf("refusing zip entry \"%s\": %w", transfer.Escape(zf.Name), err)
	}
	if name == top {
		return fmt.Errorf("refusing zip entry \"%s\": not a plain relative path", transfer.Escape(zf.Name))
	}
	mode := zf.Mode()
	isDir := strings.HasSuffix(zf.Name, "/") || mode.IsDir()
	if k := seen[name]; k == zipFile || k == zipDir || (k == zipImplicit && !isDir) {
		return fmt.Errorf("refusing zip entry \"%s\": the name appears twice", transfer.Escape(zf.Name))
	}
	seen[name] = zipFile
	if isDir {
		seen[name] = zipDir
	}
	// Folders that only appear in deeper names get the usual mode.
	for p := path.Dir(name); p != top && p != "."; p = path.Dir(p) {
		if seen[p] == zipFile {
			return fmt.Errorf("refusing zip entry \"%s\": it is inside a file", transfer.Escape(zf.Name))
		}
		if seen[p] == 0 {
			seen[p] = zipImplicit
			d.dirs = append(d.dirs, dirMeta{name: path.Join(d.stage, p), mode: 0o755})
		}
	}
	staged := path.Join(d.stage, name)
	switch {
	case isDir:
		if err := d.root.MkdirAll(staged, 0o700); err != nil {
			return fmt.Errorf("create folder %s: %w", transfer.Escape(name), err)
		}
		if perm := mode.Perm(); perm != 0 {
			d.dirs = append(d.dirs, dirMeta{name: staged, mode: perm | 0o700, mtime: zf.Modified})
		}
		return nil
	case mode.Type() != 0:
		return fmt.Errorf("refusing \"%s\": links and special files are not accepted", transfer.Escape(name))
	}
	if zf.UncompressedSize64 > uint64(d.man.Bytes-d.bytes) {
		return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
	}
	size := int64(zf.UncompressedSize64)
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("read %s from the zip: %w", transfer.Escape(name), err)
	}
	defer rc.Close()
	perm := mode.Perm()
	if perm == 0 {
		perm = 0o644
	}
	if err := d.writeFile(staged, name, size, perm, zf.Modified, rc); err != nil {
		return err
	}
	// Reading to the end makes archive/zip check the CRC and that the
	// entry holds no more than it declared.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("%s in the zip is damaged or larger than declared", transfer.Escape(name))
	}
	return nil
}
