package web

import (
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func sri(b string) string {
	sum := sha512.Sum384([]byte(b))
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", "http://relay.test:4000"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandler(t *testing.T) {
	app := strings.Repeat("console.log(1);\n", 200)
	fsys := fstest.MapFS{
		"index.html": {Data: []byte(`<script src="wasm_exec.js"></script><script type="module" src="app.js"></script>` +
			`<link rel="stylesheet" href="style.css"><meta name="ferry-wasm" content="{{wasm-integrity}}">`)},
		"app.js":       {Data: []byte(app)},
		"wasm_exec.js": {Data: []byte("go")},
		"style.css":    {Data: []byte("body{}")},
		"ferry.wasm":   {Data: []byte("\x00asm")},
		".hidden":      {Data: []byte("secret")},
	}
	h := Handler(fsys, Options{TransitPort: 4001, STUNPort: 3478, TURNPort: 3479,
		TURNCredentials: func() (string, string) { return "1700000000:ferry-web", "pw" }})

	resp := get(t, h, "/")
	body, _ := io.ReadAll(resp.Body)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self' ws://relay.test:4000 wss://relay.test:4000", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("CSP %q allows inline script or eval", csp)
	}
	for _, want := range []string{`src="app.js" integrity="` + sri(app) + `"`, `src="wasm_exec.js" integrity="` + sri("go") + `"`,
		`href="style.css" integrity="` + sri("body{}") + `"`, `content="` + sri("\x00asm") + `"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("index.html lacks %s:\n%s", want, body)
		}
	}

	resp = get(t, h, "/app.js", "Accept-Encoding", "br, gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: encoding %q type %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != app {
		t.Error("gzipped app.js differs")
	}
	if resp := get(t, h, "/app.js", "If-None-Match", `"`+sri(app)+`"`); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match gave %d", resp.StatusCode)
	}
	for i := range 100 {
		get(t, h, fmt.Sprintf("/nope-%d.js", i))
	}
	if n := len(h.(*handler).files); n > len(fsys) {
		t.Errorf("the handler remembers %d files after requests for missing ones", n)
	}
	for _, p := range []string{"/.hidden", "/../web.go", "/nope.js"} {
		if resp := get(t, h, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}

	resp = get(t, h, "/ferry.json")
	var c Config
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Transit != "relay.test:4001" || len(c.ICEServers) != 2 || c.ICEServers[0].URLs[0] != "stun:relay.test:3478" ||
		c.ICEServers[1].URLs[0] != "turn:relay.test:3479?transport=udp" || c.ICEServers[1].Username != "1700000000:ferry-web" {
		t.Errorf("ferry.json = %+v", c)
	}
	if Built(fstest.MapFS{"index.html": {}}) || !Built(fsys) {
		t.Error("Built is wrong")
	}
	resp = get(t, Handler(fstest.MapFS{"index.html": {Data: []byte("x")}}, Options{}), "/ferry.wasm")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "scripts/build") {
		t.Errorf("missing wasm: %d %q", resp.StatusCode, b)
	}
}
