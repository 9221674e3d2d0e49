package receive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// memOutput is an Output that keeps everything, as a download would.
type memOutput struct {
	bytes.Buffer
	committed, aborted bool
}

func (m *memOutput) Commit() error { m.committed = true; return nil }
func (m *memOutput) Abort(error)   { m.aborted = true }

func saveTo(out *memOutput, gotName *string, gotZip *bool) Options {
	return Options{Save: func(name string, size int64, isZip bool) (Output, error) {
		*gotName, *gotZip = name, isZip
		return out, nil
	}}
}

// TestSaveHostileStreams: every stream a folder on disk refuses is
// refused on its way to an Output too, which is then aborted, never
// committed.
func TestSaveHostileStreams(t *testing.T) {
	for _, c := range hostileStreamCases() {
		t.Run(c.name, func(t *testing.T) {
			var out memOutput
			var name string
			var isZip bool
			s, err := newSink(c.man, saveTo(&out, &name, &isZip))
			if err != nil {
				return // refused before anything was written
			}
			err = s.write(bytes.NewReader(makeTar(t, c.entries)), transfer.StreamTar)
			if err == nil {
				t.Fatal("hostile stream accepted")
			}
			if isZip && !strings.Contains(err.Error(), c.want) {
				t.Errorf("refused with %q, want it to say %q", err, c.want)
			}
			s.abort()
			if out.committed || !out.aborted {
				t.Fatalf("output committed=%v aborted=%v after a refusal", out.committed, out.aborted)
			}
		})
	}
}

// TestSaveFolderAsZip: a folder with nested names, and a file beside it,
// become one zip holding the same names, contents and modes.
func TestSaveFolderAsZip(t *testing.T) {
	man := transfer.Manifest{Files: 3, Folders: 3, Bytes: 9, Entries: []transfer.Entry{
		{Name: "photos", Dir: true, Size: 6}, {Name: "notes.txt", Size: 3, Exec: true}}}
	stream := makeTar(t, []tarEntry{
		{name: "photos/", typ: tar.TypeDir, mode: 0o755},
		{name: "photos/2026/a b.jpg", typ: tar.TypeReg, body: "abc"},
		{name: "photos/2026/é.png", typ: tar.TypeReg, body: "def", mode: 0o600},
		{name: "photos/empty/", typ: tar.TypeDir, mode: 0o700},
		{name: "notes.txt", typ: tar.TypeReg, body: "xyz", mode: 0o755},
	})
	var out memOutput
	var name string
	var isZip bool
	s, err := newSink(man, saveTo(&out, &name, &isZip))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write(bytes.NewReader(stream), transfer.StreamTar); err != nil {
		t.Fatal(err)
	}
	if err := s.commit(); err != nil {
		t.Fatal(err)
	}
	if name != "ferry-files.zip" || !isZip || !out.committed {
		t.Fatalf("saved as %q zip=%v committed=%v", name, isZip, out.committed)
	}
	if files, n := s.counts(); files != 3 || n != 9 {
		t.Fatalf("counts = %d files, %d bytes", files, n)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"photos/": "", "photos/2026/a b.jpg": "abc", "photos/2026/é.png": "def", "photos/empty/": "", "notes.txt": "xyz"}
	for _, f := range zr.File {
		body, ok := want[f.Name]
		if !ok {
			t.Errorf("zip has %q", f.Name)
			continue
		}
		delete(want, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		if string(got) != body {
			t.Errorf("%s holds %q, want %q", f.Name, got, body)
		}
		if f.Mode().Perm()&0o022 != 0 {
			t.Errorf("%s has mode %v: writable by others", f.Name, f.Mode())
		}
	}
	if len(want) != 0 {
		t.Errorf("zip lacks %v", want)
	}
}

func TestSaveAs(t *testing.T) {
	for _, c := range []struct {
		man   transfer.Manifest
		name  string
		size  int64
		isZip bool
	}{
		{transfer.Manifest{Files: 1, Bytes: 5, Entries: []transfer.Entry{{Name: "a.pdf", Size: 5}}}, "a.pdf", 5, false},
		{transfer.Manifest{Files: 2, Folders: 1, Bytes: 5, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 5}}}, "d.zip", transfer.UnknownSize, true},
		{transfer.Manifest{Files: 2, Folders: 1, Bytes: 5, Wire: 300, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 5}}}, "d.zip", 300, true},
		{transfer.Manifest{Files: 2, Bytes: 5, Entries: []transfer.Entry{{Name: "a", Size: 2}, {Name: "b", Size: 3}}}, "ferry-files.zip", transfer.UnknownSize, true},
	} {
		name, size, isZip := SaveAs(c.man)
		if name != c.name || size != c.size || isZip != c.isZip {
			t.Errorf("SaveAs(%+v) = %q, %d, %v; want %q, %d, %v", c.man.Entries, name, size, isZip, c.name, c.size, c.isZip)
		}
	}
}

// FuzzSaveTar: whatever tar stream a sender makes of a declared folder,
// the zip it becomes holds no more files or bytes than declared, only
// names under the declared folder, and the Output is committed only when
// the stream was accepted.
func FuzzSaveTar(f *testing.F) {
	f.Add(seedTar(tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d/a", typ: tar.TypeReg, body: "abc"}))
	f.Add(seedTar(tarEntry{name: "d/a/b", typ: tar.TypeReg, body: "abc"}, tarEntry{name: "d/a", typ: tar.TypeReg, body: ""}))
	f.Add(seedTar(tarEntry{name: "../x", typ: tar.TypeReg, body: "abc"}))
	man := transfer.Manifest{Files: 2, Folders: 3, Bytes: 6, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 6}}}
	f.Fuzz(func(t *testing.T, stream []byte) {
		var out memOutput
		var name string
		var isZip bool
		s, err := newSink(man, saveTo(&out, &name, &isZip))
		if err != nil {
			t.Fatal(err)
		}
		err = s.write(bytes.NewReader(stream), transfer.StreamTar)
		if err != nil {
			s.abort()
			if out.committed {
				t.Fatal("committed after a refusal")
			}
			return
		}
		zr, zerr := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if zerr != nil {
			t.Fatalf("accepted stream made a bad zip: %v", zerr)
		}
		var files, n int64
		for _, f := range zr.File {
			if !strings.HasPrefix(f.Name, "d/") && f.Name != "d" {
				t.Fatalf("zip holds %q", f.Name)
			}
			if !strings.HasSuffix(f.Name, "/") {
				files++
				n += int64(f.UncompressedSize64)
			}
		}
		if files != man.Files || n != man.Bytes {
			t.Fatalf("zip holds %d files, %d bytes", files, n)
		}
	})
}
