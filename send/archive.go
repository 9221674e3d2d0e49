package send

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// source is what the user asked to send: files and folders on disk (or
// in FileOptions.FS).
type source struct {
	paths []string  // as given, one per manifest entry
	items []item    // where each is
	stdin io.Reader // instead of paths: one stream of unknown length
	man   transfer.Manifest
	// files are the regular files in stream order, for their hashes (only
	// for paths on disk); sums are those hashes once known (the offer's
	// Manifest.Sums), and at where the receiver asked each to resume.
	files []srcFile
	sums  []transfer.FileSum
	at    map[string]int64
}

// item is one path to send: name in fsys (a folder's os.DirFS for a path
// on disk), and the path as given, for messages.
type item struct {
	fsys  fs.FS
	name  string
	shown string
}

// show is how a name inside the item is given in messages.
func (it item) show(q string) string {
	if q == it.name {
		return it.shown
	}
	return filepath.Join(it.shown, filepath.FromSlash(strings.TrimPrefix(q, it.name+"/")))
}

// locate finds a path: on disk, or in fsys when it is set.
func locate(fsys fs.FS, p string) (item, error) {
	if fsys != nil {
		if !fs.ValidPath(p) || p == "." {
			return item{}, fmt.Errorf("cannot send %q: not a name in the files given", p)
		}
		return item{fsys: fsys, name: p, shown: p}, nil
	}
	clean := filepath.Clean(p)
	return item{fsys: os.DirFS(filepath.Dir(clean)), name: filepath.Base(clean), shown: p}, nil
}

// scan stats every path (walking folders) to build the manifest the
// receiver sees before it accepts. Symlinks and special files inside
// folders are skipped and reported through skip.
func scan(fsys fs.FS, paths []string, skip func(path, why string)) (*source, error) {
	src := &source{}
	seen := map[string]string{}
	for _, p := range paths {
		it, err := locate(fsys, p)
		if err != nil {
			return nil, err
		}
		fi, err := fs.Stat(it.fsys, it.name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		name := path.Base(it.name)
		if err := transfer.CheckName(name); err != nil {
			return nil, fmt.Errorf("cannot send %s: %w", p, err)
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("%s and %s would both arrive as %q", other, p, name)
		}
		seen[name] = p
		e := transfer.Entry{Name: name, Dir: fi.IsDir()}
		switch {
		case fi.Mode().IsRegular():
			e.Size = fi.Size()
			e.Exec = fi.Mode().Perm()&0o111 != 0
			src.man.Files++
			src.addFile(fsys, it, it.name, name, e.Size)
		case fi.IsDir():
			src.man.Folders++
			err := fs.WalkDir(it.fsys, it.name, func(q string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if q == it.name {
					return nil
				}
				if err := transfer.CheckName(d.Name()); err != nil {
					return fmt.Errorf("cannot send %s: %w", it.show(q), err)
				}
				switch {
				case d.Type().IsRegular():
					info, err := d.Info()
					if err != nil {
						return err
					}
					e.Size += info.Size()
					src.man.Files++
					src.addFile(fsys, it, q, name+"/"+strings.TrimPrefix(q, it.name+"/"), info.Size())
				case d.IsDir():
					src.man.Folders++
				default:
					skip(it.show(q), "not a regular file or folder")
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("read folder %s: %w", p, err)
			}
		default:
			return nil, fmt.Errorf("cannot send %s: not a regular file or folder", p)
		}
		src.paths = append(src.paths, p)
		src.items = append(src.items, it)
		src.man.Entries = append(src.man.Entries, e)
		src.man.Bytes += e.Size
	}
	if len(src.paths) == 0 {
		return nil, errors.New("nothing to send")
	}
	return src, src.man.Check()
}

// addFile notes a regular file for hashing: only files on disk, and no
// more than transfer.MaxSums (beyond that, none).
func (s *source) addFile(fsys fs.FS, it item, q, stream string, size int64) {
	if fsys == nil && s.man.Files <= transfer.MaxSums {
		s.files = append(s.files, srcFile{it: it, q: q, stream: stream, size: size})
	}
}

// writeTar streams every entry as tar, with modes and modification times.
// A file whose size changed since scan fails the transfer rather than
// disagreeing with the manifest. With sums, each file carries its hash,
// and a file the receiver holds part of starts at that offset.
func (s *source) writeTar(w io.Writer) error {
	tw := &tarWriter{Writer: tar.NewWriter(w), sums: s.sums, at: s.at}
	buf := make([]byte, transfer.CopyBufferSize)
	for i, it := range s.items {
		top := s.man.Entries[i].Name
		err := fs.WalkDir(it.fsys, it.name, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				return nil // skipped in scan
			}
			name := top
			if q != it.name {
				name = top + "/" + strings.TrimPrefix(q, it.name+"/")
			}
			return addEntry(tw, it, q, name, d, buf)
		})
		if err != nil {
			return err
		}
	}
	if tw.sums != nil && tw.next != len(tw.sums) {
		return errors.New("files were removed while they were being sent")
	}
	return tw.Close()
}

// tarWriter is the stream's tar writer with what resume adds to it: the
// offered hashes, the next one's index, and where to resume each file.
type tarWriter struct {
	*tar.Writer
	sums []transfer.FileSum
	next int
	at   map[string]int64
}

func addEntry(tw *tarWriter, it item, q, name string, d fs.DirEntry, buf []byte) error {
	path := it.show(q)
	fi, err := d.Info()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime(), Format: tar.FormatPAX}
	if d.IsDir() {
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		return tw.WriteHeader(hdr)
	}
	f, err := it.fsys.Open(q)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	var offset int64
	if tw.sums != nil {
		if tw.next >= len(tw.sums) || tw.sums[tw.next].Path != name || tw.sums[tw.next].Size != hdr.Size {
			return fmt.Errorf("%s changed while it was being sent", it.shown)
		}
		hdr.PAXRecords = map[string]string{transfer.PAXHash: tw.sums[tw.next].Hash}
		tw.next++
		if offset = tw.at[name]; offset > 0 {
			if err := skipTo(f, offset); err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			hdr.PAXRecords[transfer.PAXOffset] = strconv.FormatInt(offset, 10)
			hdr.Size -= offset
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	n, err := transfer.Copy(tw, f, buf)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("%s grew while it was being sent", path)
		}
		return fmt.Errorf("send %s: %w", path, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s shrank while it was being sent", path)
	}
	return nil
}

// describe is a one-line summary of a manifest, for the sender's screen.
func describe(m transfer.Manifest) string {
	if len(m.Entries) == 1 && !m.Entries[0].Dir {
		return strings.TrimSpace(transfer.Escape(m.Entries[0].Name))
	}
	return fmt.Sprintf("%d files", m.Files)
}
