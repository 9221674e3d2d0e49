package send

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// readZip streams z and opens what came out with archive/zip.
func readZip(t *testing.T, z *zipped) *zip.Reader {
	t.Helper()
	r := z.Open(t.Context())
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream the zip: %v", err)
	}
	if int64(len(b)) != z.size {
		t.Fatalf("the zip is %d bytes, %d announced", len(b), z.size)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("read the zip back: %v", err)
	}
	return zr
}

// TestZipSizeExact: the size computed before a byte is read is the size
// of the zip streamed, for many names, non-ASCII ones, empty files and
// nested folders, and the zip holds every file with its content (the
// reader checks each CRC) and an entry for the empty folder.
func TestZipSizeExact(t *testing.T) {
	fsys := fstest.MapFS{}
	mtime := time.Date(2023, 2, 3, 4, 5, 6, 0, time.Local)
	want := map[string]string{}
	add := func(name, body string, mode fs.FileMode) {
		fsys["top/"+name] = &fstest.MapFile{Data: []byte(body), Mode: mode, ModTime: mtime}
		want[name] = body
	}
	for i := range 700 {
		add(fmt.Sprintf("many/d%02d/file-%03d.txt", i%23, i), strings.Repeat("x", i%97), 0o644)
	}
	add("empty", "", 0o644)
	add("a/b/c/d/e/f/deep/empty too", "", 0o600)
	add("Grüße/naïve café ☕.txt", "non-ASCII\n", 0o644)
	add("日本語/ファイル.md", "# 見出し\n", 0o644)
	add("emoji/❤️ 👩‍👩‍👧.bin", string([]byte{0, 1, 2, 255}), 0o644)
	add("run.sh", "#!/bin/sh\necho hi\n", 0o755)
	add("big", strings.Repeat("0123456789abcdef", 1<<16), 0o644)
	fsys["top/only-a-folder"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	fsys["top/link"] = &fstest.MapFile{Data: []byte("big"), Mode: fs.ModeSymlink | 0o777}

	z, err := zipFolder(item{fsys: fsys, name: "top", shown: "top"})
	if err != nil {
		t.Fatal(err)
	}
	if z.numfiles != int64(len(want)) {
		t.Errorf("numfiles %d, want %d", z.numfiles, len(want))
	}
	zr := readZip(t, z)
	if len(zr.File) != len(want)+1 {
		t.Fatalf("the zip holds %d entries, want %d files and 1 empty folder", len(zr.File), len(want))
	}
	var total int64
	for _, f := range zr.File {
		if f.Name == "only-a-folder/" {
			if !f.Mode().IsDir() || f.UncompressedSize64 != 0 {
				t.Errorf("the empty folder's entry: mode %v, %d bytes", f.Mode(), f.UncompressedSize64)
			}
			continue
		}
		body, ok := want[f.Name]
		if !ok {
			t.Fatalf("unexpected entry %q", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != body {
			t.Fatalf("%s: %d bytes (%v), want %d", f.Name, len(got), err, len(body))
		}
		if f.Method != zip.Store || f.NonUTF8 || !f.Modified.Equal(mtime) && !f.Modified.IsZero() {
			t.Errorf("%s: method %d, NonUTF8 %v, modified %v", f.Name, f.Method, f.NonUTF8, f.Modified)
		}
		if f.Name == "run.sh" && f.Mode().Perm() != 0o755 {
			t.Errorf("run.sh has mode %v", f.Mode())
		}
		total += int64(len(got))
	}
	if total != z.numbytes {
		t.Errorf("numbytes %d, the files hold %d", z.numbytes, total)
	}
}

// TestZipChangedFile: a file that grows or shrinks between the listing
// and the streaming fails the stream, instead of a zip that does not
// match the size announced.
func TestZipChangedFile(t *testing.T) {
	for name, body := range map[string]string{"grew": "0123456789+", "shrank": "01234"} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"d/f": {Data: []byte("0123456789")}}
			z, err := zipFolder(item{fsys: fsys, name: "d", shown: "d"})
			if err != nil {
				t.Fatal(err)
			}
			fsys["d/f"] = &fstest.MapFile{Data: []byte(body)}
			r := z.Open(t.Context())
			defer r.Close()
			_, err = io.ReadAll(r)
			if err == nil || !strings.Contains(err.Error(), "changed size") {
				t.Fatalf("got %v, want a changed-size error", err)
			}
		})
	}
}
