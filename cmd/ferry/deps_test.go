package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUsesPublicAPI: like a program written by anyone else, the command
// line needs only ferry's public packages (send, receive, relay, crypto,
// and the small ones beside them), none of its internal ones; so does the
// page's WebAssembly main (web/wasm).
func TestUsesPublicAPI(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	// The page's WebAssembly main is such a program too.
	for _, pkg := range []struct{ dir, goos, goarch string }{{".", "", ""}, {"../../web/wasm", "js", "wasm"}} {
		cmd := exec.Command(goCmd, "list", "-f", `{{join .Imports " "}}`, pkg.dir)
		if pkg.goos != "" {
			cmd.Env = append(os.Environ(), "GOOS="+pkg.goos, "GOARCH="+pkg.goarch)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg.dir, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			if strings.HasPrefix(imp, "github.com/ferrydrop/ferry/internal/") {
				t.Errorf("%s imports %s", pkg.dir, imp)
			}
		}
	}
}
