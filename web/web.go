// Package web is ferry's browser client: a page (static/) whose protocol
// code is ferry's own Go code compiled to WebAssembly (wasm/, built into
// static/ferry.wasm by scripts/build-web together with Go's wasm_exec.js;
// neither is committed). `ferry relay` serves it at / beside the mailbox
// at /v1, so the page reaches its relay on its own origin.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
)

//go:embed static
var embedded embed.FS

// Files is the page as built into this binary.
func Files() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the pattern above guarantees the folder
	}
	return sub
}

// WASM is the name of the page's WebAssembly program in Files.
const WASM = "ferry.wasm"

// Built reports whether fsys holds the WebAssembly program (a binary built
// with plain `go build`, not scripts/build, has the page without it).
func Built(fsys fs.FS) bool {
	_, err := fs.Stat(fsys, WASM)
	return err == nil
}

// Handler serves the page in fsys: every response with a strict
// Content-Security-Policy (only this origin, no inline script, WebAssembly
// allowed, connections only back to this host), index.html with
// Subresource Integrity hashes on its scripts and styles and the
// program's hash for app.js to check, and gzip for clients that take it
// (computed once per file).
//
// It also serves /ferry.json, what the page needs to know of the relay
// that serves it (see Options).
func Handler(fsys fs.FS, opts Options) http.Handler {
	return &handler{fsys: fsys, opts: opts, files: map[string]*file{}}
}

type handler struct {
	fsys  fs.FS
	opts  Options
	mu    sync.Mutex
	files map[string]*file
}

type file struct {
	once sync.Once
	body []byte
	gz   []byte
	err  error
	sri  string
}

// maxFile bounds what the handler holds of one file in memory.
const maxFile = 64 << 20

func (h *handler) get(name string) (*file, error) {
	h.mu.Lock()
	f := h.files[name]
	h.mu.Unlock()
	if f == nil {
		// Only the page's own files are remembered: a client asking
		// for names that do not exist must not grow the cache.
		st, err := fs.Stat(h.fsys, name)
		if err != nil || st.IsDir() {
			return nil, fs.ErrNotExist
		}
		if st.Size() > maxFile {
			return nil, fmt.Errorf("%s is larger than %d MiB", name, maxFile>>20)
		}
		h.mu.Lock()
		if f = h.files[name]; f == nil {
			f = &file{}
			h.files[name] = f
		}
		h.mu.Unlock()
	}
	f.once.Do(func() {
		if f.body, f.err = fs.ReadFile(h.fsys, name); f.err != nil {
			return
		}
		if name == "index.html" {
			f.body = h.withIntegrity(f.body)
		}
		sum := sha512.Sum384(f.body)
		f.sri = "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(f.body)
		zw.Close()
		if gz.Len() < len(f.body) {
			f.gz = gz.Bytes()
		}
	})
	return f, f.err
}

// assetRef finds src="X" and href="X" of scripts and stylesheets.
var assetRef = regexp.MustCompile(`(<(?:script|link)\b[^>]*?\b(?:src|href)=")([A-Za-z0-9_.-]+\.(?:js|css))(")`)

// withIntegrity adds integrity attributes to index.html's scripts and
// styles, and fills the program's hash into {{wasm-integrity}}.
func (h *handler) withIntegrity(index []byte) []byte {
	out := assetRef.ReplaceAllFunc(index, func(m []byte) []byte {
		sub := assetRef.FindSubmatch(m)
		f, err := h.get(string(sub[2]))
		if err != nil {
			return m
		}
		return []byte(string(sub[1]) + string(sub[2]) + `" integrity="` + f.sri + string(sub[3]))
	})
	wasm := ""
	if f, err := h.get(WASM); err == nil {
		wasm = f.sri
	}
	return bytes.ReplaceAll(out, []byte("{{wasm-integrity}}"), []byte(wasm))
}

// CSP is the page's Content-Security-Policy for a page served on host.
func CSP(host string) string {
	connect := "'self'"
	if host != "" && !strings.ContainsAny(host, " ;'\"") {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src " + connect + "; worker-src 'self'; manifest-src 'self'; frame-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", CSP(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if name == "ferry.json" {
		h.serveConfig(w, r)
		return
	}
	if !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), ".") {
		http.NotFound(w, r)
		return
	}
	f, err := h.get(name)
	if err != nil {
		if name == WASM {
			http.Error(w, "this ferry was built without its web page's program: build it with scripts/build", http.StatusNotFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr.Set("Content-Type", ctype)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", `"`+f.sri+`"`)
	hdr.Add("Vary", "Accept-Encoding")
	if name == "sw.js" {
		hdr.Set("Service-Worker-Allowed", "/")
	}
	if match := r.Header.Get("If-None-Match"); match == `"`+f.sri+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if enc == "gzip" {
			return true
		}
	}
	return false
}

// PageURL checks the page's address as ferry relay announces it (its
// --web-url): an absolute http or https URL without user name, query or
// fragment, of at most 1 KiB of printable ASCII, as ferry clients accept
// it from a relay's welcome. It returns the URL with a trailing slash on
// an empty path, or "" when clients would refuse it.
func PageURL(s string) string { return mailbox.PageURL(s) }
