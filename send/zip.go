package send

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// zipped is a folder packed for a classic receiver, which needs the
// archive's size in the offer: so it is written to a temporary file first.
type zipped struct {
	f        *os.File
	size     int64 // of the zip file
	numfiles int64
	numbytes int64
}

// zipFolder packs dir's regular files and empty folders (paths relative
// to dir, as the Python client does; symlinks and special files are left
// out, as scan reported) into a deflated zip in a temporary file.
func zipFolder(it item) (*zipped, error) {
	dir := it.shown
	f, err := os.CreateTemp("", "ferry-*.zip")
	if err != nil {
		return nil, fmt.Errorf("create temporary zip file: %w", err)
	}
	os.Remove(f.Name()) // only the open file is needed; nothing is left behind
	z := &zipped{f: f}
	if err := z.fill(it); err != nil {
		f.Close()
		return nil, fmt.Errorf("zip %s: %w", dir, err)
	}
	if z.size, err = f.Seek(0, io.SeekEnd); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("zip %s: %w", dir, err)
	}
	return z, nil
}

func (z *zipped) fill(it item) error {
	zw := zip.NewWriter(z.f)
	err := fs.WalkDir(it.fsys, it.name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != it.name {
			return z.addEmptyDir(zw, it, p, d)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel := strings.TrimPrefix(p, it.name+"/")
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Method = rel, zip.Deflate
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		src, err := it.fsys.Open(p)
		if err != nil {
			return err
		}
		n, err := io.Copy(w, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", it.show(p), err)
		}
		z.numfiles++
		z.numbytes += n
		return nil
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// addEmptyDir gives the folder p an entry of its own ("rel/") when it
// holds nothing that goes into the zip, as Python's zipstream-ng
// (walk(preserve_empty=True)) does: other folders arrive with the files
// in them.
func (z *zipped) addEmptyDir(zw *zip.Writer, it item, p string, d fs.DirEntry) error {
	entries, err := fs.ReadDir(it.fsys, p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || e.Type().IsRegular() {
			return nil
		}
	}
	fi, err := d.Info()
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return err
	}
	hdr.Name = strings.TrimPrefix(p, it.name+"/") + "/"
	hdr.Method = zip.Store
	_, err = zw.CreateHeader(hdr)
	return err
}

// Close removes the temporary zip.
func (z *zipped) Close() error { return z.f.Close() }
