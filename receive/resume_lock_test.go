package receive

import (
	"runtime"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// TestResumeLock: a second receiver of the same offer into the same
// folder, while the first is at work, does not share its staging folder:
// it stages afresh and does not resume.
func TestResumeLock(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" {
		t.Skip("no flock")
	}
	out := t.TempDir()
	man := transfer.Manifest{Files: 1, Bytes: 3, Entries: []transfer.Entry{{Name: "f", Size: 3}},
		Sums: []transfer.FileSum{{Path: "f", Size: 3, Hash: strings.Repeat("ab", transfer.HashSize)}}}
	first, err := openDestResume(out, man, false, &destResume{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.abort()
	second, err := openDestResume(out, man, false, &destResume{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.abort()
	if !first.res.persist || second.res.persist || first.stage == second.stage {
		t.Fatalf("first stages in %s (resumable %v), second in %s (resumable %v)", first.stage, first.res.persist, second.stage, second.res.persist)
	}
}
