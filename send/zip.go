package send

import (
	"archive/zip"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// zipped is a folder, or several files and folders, packed for a classic
// receiver, which needs the archive's size in the offer. Its entries are
// stored, not compressed, so the size follows from the names and sizes
// alone: zipFolder and zipItems compute it by writing the archive once
// with the file contents left out, and Open then streams the real
// archive, file by file as it is read, with no temporary file (a browser
// has none) and no wait before the first byte.
type zipped struct {
	shown    string // what it holds, for messages
	files    []zipFile
	size     int64 // of the zip
	numfiles int64
	numbytes int64
}

// zipFile is one regular file of the archive, or one empty folder.
type zipFile struct {
	it   item   // the item it is in
	path string // in it.fsys
	hdr  zip.FileHeader
	dir  bool
}

// zipFolder lists dir's regular files and empty folders (paths relative
// to dir, as the Python client does; symlinks and special files are left
// out, as scan reported) and computes the size of their stored zip.
func zipFolder(it item) (*zipped, error) {
	z := &zipped{shown: it.shown}
	if err := z.addTree(it, "", false); err != nil {
		return nil, err
	}
	return z, z.measure()
}

// zipItems packs several items, each under its top-level name in names
// (the manifest's): a file as that name, a folder as that name and what
// it holds, an empty folder as an entry of its own. A classic receiver
// takes one file or one folder: this is the folder it gets for several.
func zipItems(items []item, names []string, dirs []bool) (*zipped, error) {
	z := &zipped{shown: fmt.Sprintf("the %d items", len(items))}
	for i, it := range items {
		if dirs[i] {
			if err := z.addTree(it, names[i]+"/", true); err != nil {
				return nil, err
			}
			continue
		}
		fi, err := fs.Stat(it.fsys, it.name)
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", it.shown, err)
		}
		if err := z.addFile(it, it.name, names[i], fi); err != nil {
			return nil, fmt.Errorf("zip %s: %w", it.shown, err)
		}
	}
	return z, z.measure()
}

// addTree adds the folder it's regular files and empty folders, named
// prefix plus their path inside it; with top, the folder itself too when
// it is empty.
func (z *zipped) addTree(it item, prefix string, top bool) error {
	err := fs.WalkDir(it.fsys, it.name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, it.name+"/")
		if d.IsDir() && (p != it.name || top) {
			name := prefix + rel + "/"
			if p == it.name {
				name = prefix
			}
			hdr, err := emptyDirHeader(it, p, d, name)
			if hdr != nil {
				z.files = append(z.files, zipFile{it: it, path: p, hdr: *hdr, dir: true})
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return z.addFile(it, p, prefix+rel, fi)
	})
	if err != nil {
		return fmt.Errorf("zip %s: %w", it.shown, err)
	}
	return nil
}

// addFile adds the regular file p of it, as name.
func (z *zipped) addFile(it item, p, name string, fi fs.FileInfo) error {
	hdr, err := storedHeader(name, fi)
	if err != nil {
		return err
	}
	z.files = append(z.files, zipFile{it: it, path: p, hdr: *hdr})
	z.numfiles++
	z.numbytes += fi.Size()
	return nil
}

// measure computes the zip's size by writing it with the contents left
// out.
func (z *zipped) measure() error {
	var n counted // writes nowhere
	if err := z.write(context.Background(), &n, false); err != nil {
		return fmt.Errorf("zip %s: %w", z.shown, err)
	}
	z.size = n.n
	return nil
}

// storedHeader is the header of a stored entry of fi's size, whose CRC
// follows the data in a data descriptor.
func storedHeader(name string, fi fs.FileInfo) (*zip.FileHeader, error) {
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return nil, err
	}
	if len(name) > math.MaxUint16 {
		return nil, fmt.Errorf("the name %s is too long for a zip (%d bytes, at most %d)", name, len(name), math.MaxUint16)
	}
	hdr.Name, hdr.Method = name, zip.Store
	hdr.Flags |= 0x8 // data descriptor: the CRC is known only after the data
	if utf8.ValidString(name) {
		hdr.Flags |= 0x800 // the name is UTF-8
	}
	size := uint64(fi.Size())
	hdr.CompressedSize64, hdr.UncompressedSize64 = size, size
	hdr.ReaderVersion = 20
	if size >= math.MaxUint32 {
		hdr.ReaderVersion = 45 // zip64
	}
	hdr.ModifiedDate, hdr.ModifiedTime = msDosTime(hdr.Modified)
	return hdr, nil
}

// msDosTime is t as an MS-DOS date and time, as archive/zip writes them
// (CreateRaw leaves them to the caller).
func msDosTime(t time.Time) (date, clock uint16) {
	if t.Year() < 1980 {
		return 0x21, 0 // 1980-01-01, the earliest there is
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	clock = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, clock
}

// Open streams the zip. Reading past an error (a file that cannot be
// read, or that changed size since it was listed) returns it; closing the
// reader early stops the writing.
func (z *zipped) Open(ctx context.Context) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		n := counted{w: pw}
		err := z.write(ctx, &n, true)
		if err == nil && n.n != z.size {
			err = fmt.Errorf("zip %s: the archive came out %d bytes, not the %d announced", z.shown, n.n, z.size)
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// write writes the zip to w: with each file's content (read), or with the
// content left out, only its length counted, which yields the same size.
// Once ctx ends no further file is read.
func (z *zipped) write(ctx context.Context, w *counted, read bool) error {
	zw := zip.NewWriter(w)
	for i := range z.files {
		f := &z.files[i]
		hdr := f.hdr // archive/zip keeps and changes the header it is given
		fw, err := zw.CreateRaw(&hdr)
		if err != nil {
			return err
		}
		if f.dir {
			continue // an empty folder: its entry has no data
		}
		if !read {
			if err := writeZeros(fw, int64(hdr.UncompressedSize64)); err != nil {
				return err
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr.CRC32, err = copyFile(fw, f.it, f.path, int64(hdr.UncompressedSize64))
		if err != nil {
			return err
		}
	}
	return zw.Close()
}

// copyFile copies the file p of it, which must still be size bytes long,
// and returns its CRC-32.
func copyFile(w io.Writer, it item, p string, size int64) (uint32, error) {
	src, err := it.fsys.Open(p)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	h := crc32.NewIEEE()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(src, size))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", it.show(p), err)
	}
	var one [1]byte
	if extra, _ := src.Read(one[:]); n < size || extra > 0 {
		return 0, fmt.Errorf("%s changed size while it was being sent", it.show(p))
	}
	return h.Sum32(), nil
}

// counted counts what passes to w (nil: nowhere).
type counted struct {
	w io.Writer
	n int64
}

func (c *counted) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeZeros writes n zero bytes to w, a piece at a time: the dry run's
// contents, which must pass through the zip.Writer so that it counts the
// offsets (which decide where zip64 records are needed) as the real run
// will.
func writeZeros(w io.Writer, n int64) error {
	zeros := make([]byte, min(n, 64<<10))
	for n > 0 {
		k, err := w.Write(zeros[:min(n, int64(len(zeros)))])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// emptyDirHeader is the entry name (such as "rel/") of the folder p when it holds
// nothing that goes into the zip, as Python's zipstream-ng
// (walk(preserve_empty=True)) writes one; nil for other folders, which
// arrive with the files in them.
func emptyDirHeader(it item, p string, d fs.DirEntry, name string) (*zip.FileHeader, error) {
	entries, err := fs.ReadDir(it.fsys, p)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || e.Type().IsRegular() {
			return nil, nil
		}
	}
	fi, err := d.Info()
	if err != nil {
		return nil, err
	}
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return nil, err
	}
	hdr.Name, hdr.Method = name, zip.Store
	hdr.CompressedSize64, hdr.UncompressedSize64 = 0, 0
	hdr.ReaderVersion = 20
	hdr.ModifiedDate, hdr.ModifiedTime = msDosTime(hdr.Modified)
	return hdr, nil
}
