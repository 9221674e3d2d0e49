package receive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
)

type tarEntry struct {
	name string
	typ  byte
	body string
	size int64 // declared size when different from len(body)
	mode int64
	link string
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		size := int64(len(e.body))
		if e.typ != tar.TypeReg {
			size = 0
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Size: size, Mode: mode, Linkname: e.link, ModTime: time.Unix(1600000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// outside is a folder beside the output folder that nothing may touch.
func dirs(t *testing.T) (out, outside string) {
	base := t.TempDir()
	out, outside = filepath.Join(base, "out"), filepath.Join(base, "outside")
	for _, d := range []string{out, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return out, outside
}

func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	return names
}

func file(name string, size int64) transfer.Manifest {
	return transfer.Manifest{Files: 1, Bytes: size, Entries: []transfer.Entry{{Name: name, Size: size}}}
}

func TestExtractFolder(t *testing.T) {
	out, _ := dirs(t)
	man := transfer.Manifest{Files: 2, Folders: 3, Bytes: 8, Entries: []transfer.Entry{{Name: "dir", Dir: true, Size: 5}, {Name: "f.txt", Size: 3}}}
	d, err := openDest(out, man, false)
	if err != nil {
		t.Fatal(err)
	}
	data := makeTar(t, []tarEntry{
		{name: "dir/", typ: tar.TypeDir, mode: 0o750},
		{name: "dir/empty/", typ: tar.TypeDir},
		{name: "dir/ünï cødé/run.sh", typ: tar.TypeReg, body: "hello", mode: 0o755},
		{name: "f.txt", typ: tar.TypeReg, body: "abc"},
	})
	if err := d.extractTar(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, out); len(got) != 1 || !strings.HasPrefix(got[0], ".ferry-partial-") {
		// before commit only the staging folder exists
		if len(got) == 0 || !strings.HasPrefix(got[0], ".ferry-partial-") {
			t.Fatalf("before commit: %v", got)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "f.txt")); err == nil {
		t.Fatal("final name exists before commit")
	}
	if err := d.commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(out, "dir", "ünï cødé", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(time.Unix(1600000000, 0)) {
		t.Fatalf("run.sh: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(out, "dir", "empty")); err != nil || !fi.IsDir() {
		t.Fatalf("empty dir: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(out, "dir")); fi.Mode().Perm() != 0o750 {
		t.Fatalf("dir mode %v", fi.Mode())
	}
	for _, n := range listAll(t, out) {
		if strings.Contains(n, ".ferry-partial") {
			t.Fatalf("staging left behind: %s", n)
		}
	}
}

// hostileStreamCase is a tar stream that must be refused, and why.
type hostileStreamCase struct {
	name    string
	man     transfer.Manifest
	entries []tarEntry
	want    string // in the refusal
}

func hostileStreamCases() []hostileStreamCase {
	return []hostileStreamCase{
		{"dotdot", file("x", 1), []tarEntry{{name: "../x", typ: tar.TypeReg, body: "a"}}, "invalid name"},
		{"dotdot inside", file("x", 1), []tarEntry{{name: "x/../../outside/x", typ: tar.TypeReg, body: "a"}}, "not a plain relative path"},
		{"absolute", file("x", 1), []tarEntry{{name: "/tmp/x", typ: tar.TypeReg, body: "a"}}, "not a plain relative path"},
		{"undeclared name", file("x", 1), []tarEntry{{name: "y", typ: tar.TypeReg, body: "a"}}, "not under a name the sender declared"},
		{"symlink", transfer.Manifest{Files: 0, Bytes: 0, Entries: []transfer.Entry{{Name: "l"}}}, []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "../outside"}}, "links and special files"},
		{"symlink in folder", transfer.Manifest{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 1}}, Folders: 1}, []tarEntry{
			{name: "d/", typ: tar.TypeDir}, {name: "d/l", typ: tar.TypeSymlink, link: "/etc"}, {name: "d/l/passwd", typ: tar.TypeReg, body: "a"}}, "links and special files"},
		{"hardlink", file("x", 1), []tarEntry{{name: "x", typ: tar.TypeLink, link: "/etc/passwd"}}, "links and special files"},
		{"device", file("x", 1), []tarEntry{{name: "x", typ: tar.TypeChar}}, "links and special files"},
		{"ansi name", file("x", 1), []tarEntry{{name: "x/\x1b[2Jevil", typ: tar.TypeReg, body: "a"}}, "control characters"},
		{"larger than declared", file("x", 1), []tarEntry{{name: "x", typ: tar.TypeReg, body: "ab"}}, "larger than the sender declared"},
		{"smaller than declared", file("x", 5), []tarEntry{{name: "x", typ: tar.TypeReg, body: "ab"}}, "stream has 2 bytes; the sender declared 5"},
		{"more files than declared", transfer.Manifest{Files: 1, Folders: 1, Bytes: 2, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 2}}}, []tarEntry{
			{name: "d/a", typ: tar.TypeReg, body: "a"}, {name: "d/b", typ: tar.TypeReg, body: "b"}}, "more files than the 1"},
		{"duplicate file", transfer.Manifest{Files: 2, Folders: 1, Bytes: 2, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 2}}}, []tarEntry{
			{name: "d/a", typ: tar.TypeReg, body: "a"}, {name: "d/a", typ: tar.TypeReg, body: "b"}}, "twice"},
		{"file inside a file", file("x", 1), []tarEntry{{name: "x/y", typ: tar.TypeReg, body: "a"}}, "inside the file"},
		{"missing entry", transfer.Manifest{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "a", Size: 1}, {Name: "b", Size: 0}}}, []tarEntry{{name: "a", typ: tar.TypeReg, body: "a"}}, `lacks "b"`},
	}
}

// TestHostileStreams: each stream is refused, and neither the output
// folder nor its neighbour gains a file.
func TestHostileStreams(t *testing.T) {
	cases := hostileStreamCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, outside := dirs(t)
			d, err := openDest(out, c.man, false)
			if err == nil {
				err = d.extractTar(bytes.NewReader(makeTar(t, c.entries)))
				if err == nil {
					t.Fatal("hostile stream accepted")
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("refused with %q, want it to say %q", err, c.want)
				}
				if aerr := d.abort(); aerr != nil {
					t.Fatal(aerr)
				}
			}
			if got := listAll(t, out); len(got) != 0 {
				t.Fatalf("output folder has %v after refusal", got)
			}
			if got := listAll(t, outside); len(got) != 0 {
				t.Fatalf("outside folder has %v", got)
			}
		})
	}
}

func TestTruncatedTar(t *testing.T) {
	out, _ := dirs(t)
	d, err := openDest(out, file("x", 1000), false)
	if err != nil {
		t.Fatal(err)
	}
	data := makeTar(t, []tarEntry{{name: "x", typ: tar.TypeReg, body: strings.Repeat("a", 1000)}})
	if err := d.extractTar(bytes.NewReader(data[:700])); err == nil {
		t.Fatal("truncated stream accepted")
	}
	d.abort()
	if got := listAll(t, out); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

func TestBadManifests(t *testing.T) {
	out, _ := dirs(t)
	for _, m := range []transfer.Manifest{
		{},
		{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "../x", Size: 1}}},
		{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "/etc", Size: 1}}},
		{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "a\x1b[31m", Size: 1}}},
		{Files: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "evil\u202etxt.exe", Size: 1}}},
		{Files: 2, Bytes: 2, Entries: []transfer.Entry{{Name: "a", Size: 1}, {Name: "a", Size: 1}}},
		{Files: 1, Bytes: 5, Entries: []transfer.Entry{{Name: "a", Size: 1}}},
		{Files: -1, Bytes: 1, Entries: []transfer.Entry{{Name: "a", Size: 1}}},
	} {
		if _, err := openDest(out, m, false); err == nil {
			t.Errorf("manifest %+v accepted", m)
		}
	}
	if got := listAll(t, out); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}

func TestNoOverwrite(t *testing.T) {
	out, outside := dirs(t)
	os.WriteFile(filepath.Join(out, "x"), []byte("mine"), 0o644)
	if _, err := openDest(out, file("x", 1), false); !errors.Is(err, ErrExists) {
		t.Fatalf("openDest = %v, want ErrExists", err)
	}
	// a symlink in the output folder pointing outside: refused without
	// --overwrite, replaced (not followed) with it
	os.Symlink(outside, filepath.Join(out, "link"))
	if _, err := openDest(out, file("link", 1), false); !errors.Is(err, ErrExists) {
		t.Fatalf("openDest over a symlink = %v, want ErrExists", err)
	}
	d, err := openDest(out, file("link", 1), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.extractTar(bytes.NewReader(makeTar(t, []tarEntry{{name: "link", typ: tar.TypeReg, body: "z"}}))); err != nil {
		t.Fatal(err)
	}
	if err := d.commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(out, "link")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("link was not replaced by a file: %v %v", fi, err)
	}
	if got := listAll(t, outside); len(got) != 0 {
		t.Fatalf("outside has %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "x")); string(b) != "mine" {
		t.Fatal("x was changed")
	}
}

func TestRaw(t *testing.T) {
	out, _ := dirs(t)
	d, err := openDest(out, file("s", transfer.UnknownSize), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.writeRaw(strings.NewReader("streamed")); err != nil {
		t.Fatal(err)
	}
	if err := d.commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "s")); string(b) != "streamed" {
		t.Fatalf("got %q", b)
	}
	out2, _ := dirs(t)
	d, err = openDest(out2, file("s", 3), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.writeRaw(strings.NewReader("longer")); err == nil {
		t.Fatal("raw stream longer than declared accepted")
	}
	d.abort()
	if got := listAll(t, out2); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
}
