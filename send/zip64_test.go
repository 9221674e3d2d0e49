package send

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
)

// TestZip64 streams a folder whose first file is over 4 GiB, so the zip
// needs zip64 sizes for it and a zip64 offset for the file after it: the
// size computed in advance matches, and archive/zip reads the entries
// back (the big one's content is zeros, kept as a run, not in memory).
func TestZip64(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("streams 4 GiB: 2 s, 30 s under -race")
	}
	const big = 4<<30 + 3
	fsys := bigFS{MapFS: fstest.MapFS{
		"d/big":     {Mode: 0o644},
		"d/z-after": {Data: []byte("after the big one"), Mode: 0o644},
	}, big: "d/big", size: big}
	z, err := zipFolder(item{fsys: fsys, name: "d", shown: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if z.numbytes != big+17 {
		t.Fatalf("numbytes %d", z.numbytes)
	}
	var rec sparse
	r := z.Open(t.Context())
	defer r.Close()
	if _, err := io.CopyBuffer(&rec, r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if rec.size != z.size {
		t.Fatalf("the zip is %d bytes, %d announced", rec.size, z.size)
	}
	zr, err := zip.NewReader(&rec, rec.size)
	if err != nil {
		t.Fatalf("read the zip back: %v", err)
	}
	if len(zr.File) != 2 || zr.File[0].Name != "big" || zr.File[0].UncompressedSize64 != big || zr.File[0].CompressedSize64 != big {
		t.Fatalf("entries %+v", zr.File)
	}
	after := zr.File[1]
	if off, err := after.DataOffset(); err != nil || off < 4<<30 {
		t.Fatalf("the second entry's data is at %d (%v), want past 4 GiB", off, err)
	}
	rc, err := after.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != "after the big one" {
		t.Fatalf("second entry: %q, %v", got, err)
	}
}

// bigFS is a MapFS in which the file big is size zero bytes.
type bigFS struct {
	fstest.MapFS
	big  string
	size int64
}

func (b bigFS) Open(name string) (fs.File, error) {
	f, err := b.MapFS.Open(name)
	if err != nil || name != b.big {
		return f, err
	}
	return &zeroFile{File: f, size: b.size, left: b.size}, nil
}

func (b bigFS) ReadDir(name string) ([]fs.DirEntry, error) {
	des, err := b.MapFS.ReadDir(name)
	for i, de := range des {
		if name+"/"+de.Name() == b.big {
			des[i] = bigEntry{de, b.size}
		}
	}
	return des, err
}

type bigEntry struct {
	fs.DirEntry
	size int64
}

func (e bigEntry) Info() (fs.FileInfo, error) {
	fi, err := e.DirEntry.Info()
	return bigInfo{fi, e.size}, err
}

type bigInfo struct {
	fs.FileInfo
	size int64
}

func (i bigInfo) Size() int64 { return i.size }

type zeroFile struct {
	fs.File
	size, left int64
}

func (f *zeroFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	return bigInfo{fi, f.size}, err
}

func (f *zeroFile) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.left))
	clear(p[:n])
	f.left -= int64(n)
	return n, nil
}

// sparse records what is written to it, runs of zeros as their length
// only, and reads it back.
type sparse struct {
	segs []segment
	size int64
}

type segment struct {
	off   int64
	data  []byte // nil: zeros
	zeros int64
}

func (s *sparse) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		chunk := p[:k]
		if allZero(chunk) {
			if last := len(s.segs) - 1; last >= 0 && s.segs[last].data == nil {
				s.segs[last].zeros += int64(k)
			} else {
				s.segs = append(s.segs, segment{off: s.size, zeros: int64(k)})
			}
		} else {
			s.segs = append(s.segs, segment{off: s.size, data: bytes.Clone(chunk)})
		}
		s.size += int64(k)
		p = p[k:]
	}
	return n, nil
}

func allZero(b []byte) bool {
	var zeros [4 << 10]byte
	for len(b) > 0 {
		k := min(len(b), len(zeros))
		if !bytes.Equal(b[:k], zeros[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, sg := range s.segs {
		l := int64(len(sg.data))
		if sg.data == nil {
			l = sg.zeros
		}
		if off+int64(n) >= sg.off+l || len(p) == n {
			continue
		}
		if off+int64(n) < sg.off {
			break
		}
		at := off + int64(n) - sg.off
		k := int(min(int64(len(p)-n), l-at))
		if sg.data == nil {
			clear(p[n : n+k])
		} else {
			copy(p[n:n+k], sg.data[at:])
		}
		n += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
