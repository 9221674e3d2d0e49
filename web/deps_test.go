package web

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestProgramLinksNoICEOrQUIC checks what the page's program links: a
// browser has no sockets, so ferry's ICE agent (package nat, with pion/ice
// and quic-go) is dead weight there, and once made up most of the
// program. pion/webrtc's own js build still imports pion/ice (for its
// candidate types), so pion/ice may appear, but only through pion/webrtc:
// no ferry package may import it, nor nat, nor anything of quic-go.
func TestProgramLinksNoICEOrQUIC(t *testing.T) {
	for _, line := range listWasm(t, "-deps") {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.HasPrefix(pkg, "github.com/quic-go/") || pkg == "github.com/ferrydrop/ferry/nat" {
			t.Errorf("the page's program links %s", pkg)
		}
		if !strings.HasPrefix(pkg, "github.com/ferrydrop/ferry/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "github.com/pion/ice/") || strings.HasPrefix(imp, "github.com/pion/turn/") {
				t.Errorf("%s imports %s in the page's program", pkg, imp)
			}
		}
	}
}

// TestProgramUsesPublicAPI checks that the page's program is written
// against ferry's public packages (send, receive, escape, ...) only, like
// any other program would be: nothing of ferry's internal/.
func TestProgramUsesPublicAPI(t *testing.T) {
	lines := listWasm(t)
	if len(lines) != 1 {
		t.Fatalf("go list gave %d lines, want 1", len(lines))
	}
	_, imports, _ := strings.Cut(lines[0], " ")
	for _, imp := range strings.Fields(imports) {
		if strings.HasPrefix(imp, "github.com/ferrydrop/ferry/internal/") {
			t.Errorf("the page's program imports %s", imp)
		}
	}
}

// listWasm runs go list (with flags) on the page's program for js/wasm and
// returns one line per package: its import path, then its imports.
func listWasm(t *testing.T, flags ...string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	args := append([]string{"list"}, flags...)
	cmd := exec.Command(goCmd, append(args, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./wasm")...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
