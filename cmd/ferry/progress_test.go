package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
)

// TestDescribeManifest: past the first 20 names the prompt still names
// every dotfile and every executable; folders are counted; a classic zip
// says what crosses the wire.
func TestDescribeManifest(t *testing.T) {
	m := receive.Manifest{Files: 24, Folders: 1, Bytes: 26}
	for i := range 25 {
		e := transfer.Entry{Name: fmt.Sprintf("f%02d", i), Size: 1}
		switch i {
		case 21:
			e.Name = ".bash_profile"
		case 22:
			e.Name, e.Exec = "ls", true
		case 23:
			e.Name, e.Dir, e.Size = "d", true, 2
		}
		m.Entries = append(m.Entries, e)
	}
	got := describeManifest(m)
	for _, want := range []string{"24 files in 1 folder, 26 bytes:\n", "  .bash_profile (1 byte)\n", "  ls (1 byte, executable)\n", "  … and 3 more\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("prompt lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "f24") || strings.Contains(got, "d/") {
		t.Errorf("prompt lists more than 20 plain names:\n%s", got)
	}
	zip := describeManifest(receive.Manifest{Files: 1, Folders: 1, Bytes: 10, Wire: 700_000, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 10}}})
	if !strings.HasPrefix(zip, "1 file, 10 bytes (a zip of 700.0 kB crosses the wire):\n") {
		t.Errorf("classic folder prompt: %q", zip)
	}
}
