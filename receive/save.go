package receive

import (
	"archive/tar"
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// An Output takes a transfer that is not written into a folder on this
// machine: ferry's page in a browser saves it as a download. The bytes
// written to it were each authenticated, but only Commit says that the
// whole transfer arrived complete and authentic; after Abort nothing
// written may be kept as if it were complete.
type Output interface {
	io.Writer
	Commit() error
	Abort(reason error)
}

// SaveAs says what a transfer with this manifest becomes when it goes to
// an Output (Options.Save): one file's name and size, or, for several
// names or a folder, a zip archive of them (size UnknownSize, since the
// archive's own headers add to the content; a classic sender's folder
// arrives as its zip, of known size).
func SaveAs(man Manifest) (name string, size int64, isZip bool) {
	if len(man.Entries) == 1 && !man.Entries[0].Dir {
		return man.Entries[0].Name, man.Entries[0].Size, false
	}
	if man.Wire > 0 { // a classic sender's folder: its own zip
		return man.Entries[0].Name + ".zip", man.Wire, true
	}
	if len(man.Entries) == 1 {
		return man.Entries[0].Name + ".zip", transfer.UnknownSize, true
	}
	return "ferry-files.zip", transfer.UnknownSize, true
}

// Manifest lists what a sender offers (Options.Accept is shown it).
type Manifest = transfer.Manifest

// UnknownSize is a Manifest's Bytes, or an Entry's Size, when the sender
// does not know it ahead (a stream from stdin).
const UnknownSize = transfer.UnknownSize

// Entry is one top-level name of a Manifest.
type Entry = transfer.Entry

// maxZipNames caps the bytes of names a zip's central directory keeps in
// memory until the end of the archive.
const maxZipNames = 64 << 20

// saveSink streams a transfer into an Output: a single file as it is, a
// tar stream of several names re-packed as a zip (entries stored, not
// compressed: the zip is written as the tar is read, with nothing held
// but its directory), with the same checks against the manifest as a
// folder on disk gets.
type saveSink struct {
	out     Output
	man     transfer.Manifest
	isZip   bool
	tops    map[string]transfer.Entry
	topN    map[string]int64
	seen    map[string]bool // names written: "a/b", and "a/b/" for a folder
	present map[string]bool // top-level names the stream delivered
	names   int64
	folders int64
	files   int64
	bytes   int64
	closed  bool
}

func newSaveSink(man transfer.Manifest, opts Options) (sink, error) {
	if err := man.Check(); err != nil {
		return nil, err
	}
	name, size, isZip := SaveAs(man)
	out, err := opts.Save(name, size, isZip)
	if err != nil {
		return nil, err
	}
	s := &saveSink{out: out, man: man, isZip: isZip, tops: map[string]transfer.Entry{},
		topN: map[string]int64{}, seen: map[string]bool{}, present: map[string]bool{}}
	for _, e := range man.Entries {
		s.tops[e.Name] = e
	}
	return s, nil
}

func (s *saveSink) write(r io.Reader, kind string) error {
	if !s.isZip {
		p := &pipeSink{w: s.out, name: s.man.Entries[0].Name, size: s.man.Entries[0].Size}
		err := p.write(r, kind)
		s.files, s.bytes = 1, p.n
		return err
	}
	if kind != transfer.StreamTar {
		return errors.New("a raw stream must carry exactly one file")
	}
	zw := zip.NewWriter(s.out)
	tr := tar.NewReader(r)
	buf := make([]byte, transfer.CopyBufferSize)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read transfer stream: %w", err)
		}
		if err := s.entry(zw, hdr, tr, buf); err != nil {
			return err
		}
	}
	if err := s.complete(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// entry checks one tar entry against the manifest and adds it to the zip.
func (s *saveSink) entry(zw *zip.Writer, hdr *tar.Header, r io.Reader, buf []byte) error {
	name, err := checkStreamPath(s.tops, hdr.Name)
	if err != nil {
		return err
	}
	top, _, _ := strings.Cut(name, "/")
	e := s.tops[top]
	zname := name
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !e.Dir {
			return fmt.Errorf("stream has a folder \"%s\" where the manifest declared a file", transfer.Escape(name))
		}
		zname += "/"
		if s.folders++; s.folders > s.man.Folders {
			return fmt.Errorf("stream has more folders than the %d the sender declared", s.man.Folders)
		}
	case tar.TypeReg:
		if e.Dir && name == top {
			return fmt.Errorf("stream has a file \"%s\" where the manifest declared a folder", transfer.Escape(name))
		}
		if !e.Dir && name != top {
			return fmt.Errorf("stream puts \"%s\" inside the file \"%s\"", transfer.Escape(name), transfer.Escape(top))
		}
		if hdr.Size < 0 || (s.man.Bytes != transfer.UnknownSize && hdr.Size > s.man.Bytes-s.bytes) ||
			(e.Size != transfer.UnknownSize && hdr.Size > e.Size-s.topN[top]) {
			return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
		}
		if s.files++; s.files > s.man.Files {
			return fmt.Errorf("stream has more files than the %d the sender declared", s.man.Files)
		}
	default:
		return fmt.Errorf("refusing \"%s\": links and special files are not accepted", transfer.Escape(name))
	}
	if s.seen[name] {
		return fmt.Errorf("stream has \"%s\" twice", transfer.Escape(name))
	}
	for i := range len(name) { // nothing may sit inside a file
		if name[i] == '/' && s.seen[name[:i]] && !s.seen[name[:i]+"/"] {
			return fmt.Errorf("stream puts \"%s\" inside a file", transfer.Escape(name))
		}
	}
	if s.names += int64(len(zname)); s.names > maxZipNames {
		return fmt.Errorf("the stream's names take more than %d MiB", maxZipNames>>20)
	}
	mode := hdr.FileInfo().Mode() & 0o755
	if hdr.Typeflag == tar.TypeDir {
		mode |= 0o755
	}
	s.seen[name] = true
	if hdr.Typeflag == tar.TypeDir {
		s.seen[zname] = true
	}
	fh := &zip.FileHeader{Name: zname, Method: zip.Store, Modified: hdr.ModTime}
	fh.SetMode(hdr.FileInfo().Mode()&^0o7777 | mode)
	w, err := zw.CreateHeader(fh)
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if hdr.Typeflag == tar.TypeReg {
		n, err := transfer.Copy(w, io.LimitReader(r, hdr.Size), buf)
		s.bytes += n
		s.topN[top] += n
		if err != nil {
			return fmt.Errorf("write %s: %w", transfer.Escape(name), err)
		}
		if n != hdr.Size {
			return fmt.Errorf("%s: stream ended after %d of %d bytes", transfer.Escape(name), n, hdr.Size)
		}
	}
	s.present[top] = true
	return nil
}

func (s *saveSink) complete() error {
	return checkComplete(s.man, s.tops, s.present, s.topN, s.files, s.bytes)
}

func (s *saveSink) commit() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.out.Commit()
}

func (s *saveSink) abort() error {
	if !s.closed {
		s.closed = true
		s.out.Abort(errors.New("the transfer did not complete"))
	}
	return nil
}

func (s *saveSink) counts() (int64, int64) { return s.files, s.bytes }
