//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall/js"
	"time"

	"github.com/ferrydrop/ferry/escape"
)

// pickedFS is the files a user picked in the page, as an fs.FS for
// send.Files: each a JavaScript File, read a piece at a time with
// slice().arrayBuffer(), never whole.
type pickedFS struct {
	ctx   context.Context
	nodes map[string]*node
}

type node struct {
	name     string // path in the FS
	dir      bool
	file     js.Value
	size     int64
	mtime    time.Time
	children []string // base names, sorted
}

// maxPicked caps the files one send takes from the page.
const maxPicked = 100000

// newPickedFS builds the tree of files (an array of File; a folder's
// files carry webkitRelativePath) and returns it with its top-level names.
func newPickedFS(ctx context.Context, files js.Value) (*pickedFS, []string, error) {
	n := files.Length()
	if n == 0 {
		return nil, nil, errors.New("no files picked")
	}
	if n > maxPicked {
		return nil, nil, fmt.Errorf("at most %d files at a time", maxPicked)
	}
	p := &pickedFS{ctx: ctx, nodes: map[string]*node{".": {name: ".", dir: true}}}
	for i := range n {
		f := files.Index(i)
		name := f.Get("name").String()
		if rel := f.Get("webkitRelativePath"); rel.Type() == js.TypeString && rel.String() != "" {
			name = rel.String()
		}
		if !fs.ValidPath(name) || name == "." {
			return nil, nil, fmt.Errorf("cannot send %q: not a plain name", name)
		}
		if _, dup := p.nodes[name]; dup {
			return nil, nil, fmt.Errorf("%q is picked twice", name)
		}
		p.nodes[name] = &node{name: name, file: f, size: int64(f.Get("size").Float()),
			mtime: time.UnixMilli(int64(f.Get("lastModified").Float()))}
		for child := name; child != "."; {
			parent := path.Dir(child)
			pn := p.nodes[parent]
			if pn == nil {
				pn = &node{name: parent, dir: true, mtime: time.Now()}
				p.nodes[parent] = pn
			}
			if !pn.dir {
				return nil, nil, fmt.Errorf("%q is both a file and a folder", parent)
			}
			base := path.Base(child)
			if !slices.Contains(pn.children, base) {
				pn.children = append(pn.children, base)
			}
			child = parent
		}
	}
	for _, nd := range p.nodes {
		slices.Sort(nd.children)
	}
	return p, p.nodes["."].children, nil
}

func (p *pickedFS) Open(name string) (fs.File, error) {
	nd := p.nodes[name]
	if nd == nil || !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if nd.dir {
		return &dirHandle{p: p, nd: nd}, nil
	}
	return &fileHandle{ctx: p.ctx, nd: nd}, nil
}

type info struct{ nd *node }

func (i info) Name() string { return path.Base(i.nd.name) }
func (i info) Size() int64  { return i.nd.size }
func (i info) Mode() fs.FileMode {
	if i.nd.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time { return i.nd.mtime }
func (i info) IsDir() bool        { return i.nd.dir }
func (i info) Sys() any           { return nil }

type dirHandle struct {
	p   *pickedFS
	nd  *node
	pos int
}

func (d *dirHandle) Stat() (fs.FileInfo, error) { return info{d.nd}, nil }
func (d *dirHandle) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.nd.name, Err: errors.New("is a folder")}
}
func (d *dirHandle) Close() error { return nil }

func (d *dirHandle) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.nd.children[d.pos:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	out := make([]fs.DirEntry, len(rest))
	for i, base := range rest {
		out[i] = fs.FileInfoToDirEntry(info{d.p.nodes[path.Join(d.nd.name, base)]})
	}
	d.pos += len(rest)
	return out, nil
}

// fileHandle reads a File in pieces of the size asked for, at most 4 MiB.
type fileHandle struct {
	ctx context.Context
	nd  *node
	off int64
}

func (f *fileHandle) Stat() (fs.FileInfo, error) { return info{f.nd}, nil }
func (f *fileHandle) Close() error               { return nil }

func (f *fileHandle) Read(b []byte) (int, error) {
	if f.off >= f.nd.size {
		return 0, io.EOF
	}
	n := min(int64(len(b)), f.nd.size-f.off, 4<<20)
	buf, err := await(f.ctx, f.nd.file.Call("slice", f.off, f.off+n).Call("arrayBuffer"))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.nd.name, err)
	}
	got := js.CopyBytesToGo(b[:n], js.Global().Get("Uint8Array").New(buf))
	if got == 0 {
		return 0, fmt.Errorf("read %s: the file shrank", f.nd.name)
	}
	f.off += int64(got)
	return got, nil
}

// topNames is names joined for a message.
func topNames(names []string) string {
	shown := make([]string, 0, 3)
	for _, n := range names[:min(len(names), 3)] {
		shown = append(shown, escape.Terminal(n))
	}
	if len(names) > 3 {
		return strings.Join(shown, ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(shown, ", ")
}
