package receive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
)

// folderMan declares one top-level folder d of size bytes in files files
// and folders folders.
func folderMan(files, folders, size int64) transfer.Manifest {
	return transfer.Manifest{Files: files, Folders: folders, Bytes: size, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: size}}}
}

// TestFolderLimits: every folder, named or implied by a deeper name,
// counts against the folders the sender declared; a folder is recorded
// once; each top-level name gets no more bytes than declared and the type
// it was declared with.
func TestFolderLimits(t *testing.T) {
	many := []tarEntry{{name: "d/", typ: tar.TypeDir}}
	for i := range 1000 {
		many = append(many, tarEntry{name: fmt.Sprintf("d/%d/", i), typ: tar.TypeDir})
	}
	many = append(many, tarEntry{name: "d/x", typ: tar.TypeReg, body: "a"})
	repeated := []tarEntry{{name: "d/", typ: tar.TypeDir}}
	for range 1000 {
		repeated = append(repeated, tarEntry{name: "d/", typ: tar.TypeDir})
	}
	cases := []struct {
		name    string
		man     transfer.Manifest
		entries []tarEntry
		want    string
	}{
		{"folders beyond the declared", folderMan(1, 1, 1), many, "more folders than the 1 the sender declared"},
		{"one folder repeated", folderMan(0, 1, 0), repeated, `the folder "d" twice`},
		{"implied folders count", folderMan(1, 2, 1), []tarEntry{{name: "d/a/b/c/x", typ: tar.TypeReg, body: "a"}}, "more folders than the 2"},
		{"folder declared, file sent", folderMan(1, 1, 1), []tarEntry{{name: "d", typ: tar.TypeReg, body: "a"}}, "a file \"d\" where the manifest declared a folder"},
		{"file declared, folder sent", file("d", 0), []tarEntry{{name: "d/", typ: tar.TypeDir}}, "a folder \"d\" where the manifest declared a file"},
		{"top-level name larger than declared", transfer.Manifest{Files: 2, Folders: 1, Bytes: 2, Entries: []transfer.Entry{{Name: "a", Dir: true, Size: 1}, {Name: "b", Size: 1}}},
			[]tarEntry{{name: "a/", typ: tar.TypeDir}, {name: "a/x", typ: tar.TypeReg, body: "xx"}, {name: "b", typ: tar.TypeReg, body: ""}}, "a/x is larger than the sender declared"},
		{"top-level name smaller than declared", transfer.Manifest{Files: 2, Folders: 1, Bytes: 2, Entries: []transfer.Entry{{Name: "a", Dir: true, Size: 1}, {Name: "b", Size: 1}}},
			[]tarEntry{{name: "a/", typ: tar.TypeDir}, {name: "a/x", typ: tar.TypeReg, body: ""}, {name: "b", typ: tar.TypeReg, body: "x"}, {name: "a/y", typ: tar.TypeReg, body: "y"}}, "more files than the 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _ := dirs(t)
			d, err := openDest(out, c.man, false)
			if err != nil {
				t.Fatal(err)
			}
			err = d.extractTar(bytes.NewReader(makeTar(t, c.entries)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("extract = %v, want an error saying %q", err, c.want)
			}
			if len(d.dirs) > int(c.man.Folders) || d.folders > c.man.Folders+1 {
				t.Errorf("%d folders recorded, %d counted, for %d declared", len(d.dirs), d.folders, c.man.Folders)
			}
			d.abort()
			if got := listAll(t, out); len(got) != 0 {
				t.Fatalf("left %v", got)
			}
		})
	}
}

// TestModes: a received file or folder never gets more than 0755 (a file
// without execute permission 0644), the receiver's umask applies, and a
// top-level file is executable only when the offer said so.
func TestModes(t *testing.T) {
	for _, umask := range []int{0o022, 0o027} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			mask := fs.FileMode(umask)
			out, _ := dirs(t)
			man := transfer.Manifest{Files: 4, Folders: 2, Bytes: 4, Entries: []transfer.Entry{
				{Name: "d", Dir: true, Size: 2}, {Name: "plain", Size: 1}, {Name: "tool", Size: 1, Exec: true}}}
			d, err := openDest(out, man, false)
			if err != nil {
				t.Fatal(err)
			}
			data := makeTar(t, []tarEntry{
				{name: "d/", typ: tar.TypeDir, mode: 0o7777},
				{name: "d/sub/", typ: tar.TypeDir, mode: 0o777},
				{name: "d/sub/run", typ: tar.TypeReg, body: "r", mode: 0o4777},
				{name: "d/sub/doc", typ: tar.TypeReg, body: "d", mode: 0o666},
				{name: "plain", typ: tar.TypeReg, body: "p", mode: 0o777},
				{name: "tool", typ: tar.TypeReg, body: "t", mode: 0o777},
			})
			if err := d.extractTar(bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := d.commit(); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]fs.FileMode{
				"d": fs.ModeDir | 0o755&^mask, "d/sub": fs.ModeDir | 0o755&^mask, "d/sub/run": 0o755 &^ mask,
				"d/sub/doc": 0o644 &^ mask, "plain": 0o644 &^ mask, "tool": 0o755 &^ mask,
			} {
				fi, err := os.Lstat(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
				}
			}
		})
	}
}

// TestZipModes: a zip entry without Unix attributes (as Windows zips
// have) lands 0644, a 0777 one 0755.
func TestZipModes(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "dos.txt", Method: zip.Store}) // MS-DOS attributes: 0666
	w.Write([]byte("a"))
	h := &zip.FileHeader{Name: "unix.sh", Method: zip.Store}
	h.SetMode(0o777)
	w, _ = zw.CreateHeader(h)
	w.Write([]byte("b"))
	zw.Close()
	out, _ := dirs(t)
	d, err := openDest(out, folderMan(2, 1, 2), false)
	if err != nil {
		t.Fatal(err)
	}
	d.maxFolders = classic.MaxZipFolders(2)
	if err := d.writeZip(bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	if err := d.commit(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"dos.txt": 0o644 &^ d.umask, "unix.sh": 0o755 &^ d.umask} {
		if fi, err := os.Stat(filepath.Join(out, "d", name)); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want %v", name, fi.Mode(), err, want)
		}
	}
}

// TestZipDirectoryBounds: a classic zip whose directory lists more
// entries than its declared files allow is refused before archive/zip
// reads it, also when its end record lies about the count (archive/zip
// reads records for as long as they parse and compares counts modulo
// 65536).
func TestZipDirectoryBounds(t *testing.T) {
	zipOf := func(dirs int) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("f")
		w.Write([]byte("x"))
		for i := range dirs {
			zw.Create(fmt.Sprintf("%d/", i))
		}
		zw.Close()
		return buf.Bytes()
	}
	t.Run("too many entries", func(t *testing.T) {
		d, err := unzipOneFile(t, zipOf(5000))
		if err == nil || !strings.Contains(err.Error(), "directory lists 5001 entries") {
			t.Fatalf("writeZip = %v", err)
		}
		d.abort()
	})
	t.Run("end record lies", func(t *testing.T) {
		z := zipOf(65536) // 65537 entries: a zip64 end record
		i := bytes.LastIndex(z, []byte("PK\x06\x06"))
		if i < 0 {
			t.Fatal("no zip64 end record")
		}
		binary.LittleEndian.PutUint64(z[i+24:], 1) // entries on this disk
		binary.LittleEndian.PutUint64(z[i+32:], 1) // entries in all: 65537 mod 65536
		binary.LittleEndian.PutUint64(z[i+40:], 46)
		d, err := unzipOneFile(t, z)
		if err == nil || !strings.Contains(err.Error(), "directory is larger than the offer allows") {
			t.Fatalf("writeZip = %v", err)
		}
		if d.folders > 1 {
			t.Errorf("%d folders made", d.folders)
		}
		d.abort()
	})
}

// unzipOneFile lands z as a classic folder offer of one 1-byte file.
func unzipOneFile(t *testing.T, z []byte) (*dest, error) {
	out, _ := dirs(t)
	d, err := openDest(out, folderMan(1, 1, 1), false)
	if err != nil {
		t.Fatal(err)
	}
	d.maxFolders = classic.MaxZipFolders(1)
	return d, d.writeZip(bytes.NewReader(z), int64(len(z)))
}

// TestCommitAtomic: a name that appears in the output folder during the
// transfer stops the commit, and the names already moved go back: the
// folder is as it was, the intruder untouched.
func TestCommitAtomic(t *testing.T) {
	out, _ := dirs(t)
	man := transfer.Manifest{Files: 2, Bytes: 2, Entries: []transfer.Entry{{Name: "a", Size: 1}, {Name: "b", Size: 1}}}
	d, err := openDest(out, man, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.extractTar(bytes.NewReader(makeTar(t, []tarEntry{{name: "a", typ: tar.TypeReg, body: "1"}, {name: "b", typ: tar.TypeReg, body: "2"}}))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "b"), []byte("theirs"), 0o644)
	if err := d.commit(); !errors.Is(err, ErrExists) {
		t.Fatalf("commit = %v, want ErrExists", err)
	}
	if _, err := os.Lstat(filepath.Join(out, "a")); err == nil {
		t.Error("a kept its final name after the commit failed")
	}
	if b, _ := os.ReadFile(filepath.Join(out, "b")); string(b) != "theirs" {
		t.Errorf("b = %q", b)
	}
	d.abort()
	if got := listAll(t, out); len(got) != 1 || got[0] != "b" {
		t.Errorf("left %v", got)
	}

	// with overwrite, the old versions are replaced and nothing is left
	os.WriteFile(filepath.Join(out, "a"), []byte("old"), 0o644)
	d, err = openDest(out, man, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.extractTar(bytes.NewReader(makeTar(t, []tarEntry{{name: "a", typ: tar.TypeReg, body: "1"}, {name: "b", typ: tar.TypeReg, body: "2"}}))); err != nil {
		t.Fatal(err)
	}
	if err := d.commit(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "1", "b": "2"} {
		if b, _ := os.ReadFile(filepath.Join(out, name)); string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if got := listAll(t, out); len(got) != 2 {
		t.Errorf("left %v", got)
	}
}

func TestRenameNoReplace(t *testing.T) {
	out, _ := dirs(t)
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	os.WriteFile(filepath.Join(out, "x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(out, "y"), []byte("y"), 0o644)
	os.Mkdir(filepath.Join(out, "dx"), 0o755)
	os.Mkdir(filepath.Join(out, "dy"), 0o755)
	for _, c := range [][2]string{{"x", "y"}, {"dx", "dy"}, {"x", "dy"}, {"dx", "y"}} {
		if err := renameNoReplace(root, ".", c[0], ".", c[1]); !errors.Is(err, fs.ErrExist) {
			t.Errorf("rename %s over %s = %v, want fs.ErrExist", c[0], c[1], err)
		}
	}
	if err := renameChecked(root, ".", "x", ".", "y"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameChecked over a file = %v", err)
	}
	if err := renameNoReplace(root, ".", "dx", "dy", "dz"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, "dy", "dz")); err != nil || !fi.IsDir() {
		t.Fatalf("moved folder: %v", err)
	}
}

// TestSweepStalePartials: staging names a killed receiver left more than
// a day ago are removed when the next transfer starts in that folder;
// younger ones (a receiver still at work) and other names stay.
func TestSweepStalePartials(t *testing.T) {
	out, _ := dirs(t)
	old := time.Now().Add(-25 * time.Hour)
	stale := []string{".ferry-partial-0123456789ab", ".ferry-partial-0123456789ab.zip"}
	// a young one, names that are not ferry's, and the old versions an
	// interrupted --overwrite set aside
	keep := []string{".ferry-partial-aaaaaaaaaaaa", ".ferry-partial-notours", ".ferry-partial-0123456789AB", ".ferry-partial-ba9876543210.old"}
	for i, name := range append(append([]string{}, stale...), keep...) {
		p := filepath.Join(out, name)
		if strings.HasSuffix(name, ".zip") {
			os.WriteFile(p, []byte("zip"), 0o600)
		} else {
			os.Mkdir(p, 0o700)
			os.WriteFile(filepath.Join(p, "data"), []byte("data"), 0o600)
		}
		if i < len(stale) || name != keep[0] {
			os.Chtimes(p, old, old)
		}
	}
	d, err := openDest(out, file("f", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	d.abort()
	for _, name := range stale {
		if _, err := os.Lstat(filepath.Join(out, name)); err == nil {
			t.Errorf("%s was not swept", name)
		}
	}
	for _, name := range keep {
		if _, err := os.Lstat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s was swept: %v", name, err)
		}
	}
}
