package receive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
)

// seedTar is a small well-formed stream for the fuzz corpus.
func seedTar(entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o755, Linkname: e.link}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		tw.WriteHeader(hdr)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// onDisk counts what a transfer created under out, and fails if anything
// is not a plain file or folder.
func onDisk(t *testing.T, out string) (files, folders, bytes int64) {
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == out {
			return nil
		}
		fi, _ := d.Info()
		switch {
		case d.IsDir():
			folders++
			if fi.Mode().Perm()&^0o755 != 0 {
				t.Fatalf("%s has mode %v", p, fi.Mode())
			}
		case d.Type().IsRegular():
			files++
			bytes += fi.Size()
			if fi.Mode().Perm()&^0o755 != 0 {
				t.Fatalf("%s has mode %v", p, fi.Mode())
			}
		default:
			t.Fatalf("%s is %v", p, d.Type())
		}
		return nil
	})
	return
}

// FuzzExtractTar feeds arbitrary streams to the tar extraction under a
// fixed offer (a folder "d" and a file "f"). Properties: no more files,
// folders or bytes land than declared, only plain files and folders, no
// mode above 0755; whatever the outcome, nothing is left once the
// transfer is aborted.
func FuzzExtractTar(f *testing.F) {
	f.Add(seedTar(tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d/s/", typ: tar.TypeDir}, tarEntry{name: "d/s/x", typ: tar.TypeReg, body: "abc"}, tarEntry{name: "f", typ: tar.TypeReg, body: "12"}))
	f.Add(seedTar(tarEntry{name: "d/a/b/x", typ: tar.TypeReg, body: "abc"}, tarEntry{name: "f", typ: tar.TypeReg, body: "12"}))
	f.Add(seedTar(tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d/", typ: tar.TypeDir}))
	f.Add(seedTar(tarEntry{name: "d/l", typ: tar.TypeSymlink, link: "../../x"}))
	f.Add(seedTar(tarEntry{name: "../f", typ: tar.TypeReg, body: "12"}))
	man := transfer.Manifest{Files: 2, Folders: 3, Bytes: 5, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 3}, {Name: "f", Size: 2}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := t.TempDir()
		d, err := openDest(out, man, false)
		if err != nil {
			t.Fatal(err)
		}
		err = d.extractTar(bytes.NewReader(data))
		files, folders, n := onDisk(t, filepath.Join(out, d.stage))
		if files > man.Files || folders > man.Folders || n > man.Bytes {
			t.Fatalf("staged %d files, %d folders, %d bytes for an offer of %d, %d, %d", files, folders, n, man.Files, man.Folders, man.Bytes)
		}
		if err == nil && (files != man.Files || n != man.Bytes) {
			t.Fatalf("accepted %d files of %d bytes for an offer of %d files of %d bytes", files, n, man.Files, man.Bytes)
		}
		d.abort()
		if left, _ := os.ReadDir(out); len(left) != 0 {
			t.Fatalf("left %v", left)
		}
	})
}

// seedZip is a small zip for the fuzz corpus.
func seedZip(names ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, _ := zw.Create(n)
		if !strings.HasSuffix(n, "/") {
			w.Write([]byte("abc"))
		}
	}
	zw.Close()
	return buf.Bytes()
}

// FuzzExtractZip feeds arbitrary zips to a classic folder's extraction
// under an offer of numfiles files. Properties: no more files or bytes
// land than declared, no more folders than the bound derived from the
// files, only plain files and folders; nothing is left after abort.
func FuzzExtractZip(f *testing.F) {
	f.Add(seedZip("a", "s/b", "s/t/c"), uint8(3))
	f.Add(seedZip("s/", "s/b"), uint8(1))
	f.Add(seedZip("a", "a"), uint8(2))
	f.Add(seedZip("../x"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, numfiles uint8) {
		files := int64(numfiles % 8)
		man := transfer.Manifest{Files: files, Folders: 1, Bytes: 3 * files, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 3 * files}}}
		if int64(len(data)) > classic.MaxZipSize(man.Bytes, files) {
			return // refused from the offer
		}
		out := t.TempDir()
		d, err := openDest(out, man, false)
		if err != nil {
			t.Fatal(err)
		}
		d.maxFolders = classic.MaxZipFolders(files)
		err = d.writeZip(bytes.NewReader(data), int64(len(data)))
		got, folders, n := onDisk(t, filepath.Join(out, d.stage))
		if got > files || folders > d.maxFolders || n > man.Bytes {
			t.Fatalf("staged %d files, %d folders, %d bytes for an offer of %d files of %d bytes (%d folders allowed); err %v", got, folders, n, files, man.Bytes, d.maxFolders, err)
		}
		d.abort()
		if left, _ := os.ReadDir(out); len(left) != 0 {
			t.Fatalf("left %v", left)
		}
	})
}
