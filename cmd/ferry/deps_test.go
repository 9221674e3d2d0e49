package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestUsesPublicAPI: like a program written by anyone else, the command
// line needs only ferry's public packages (send, receive, relay, crypto,
// and the small ones beside them), none of its internal ones.
func TestUsesPublicAPI(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goCmd, "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "github.com/ferrydrop/ferry/internal/") {
			t.Errorf("cmd/ferry imports %s", imp)
		}
	}
}
