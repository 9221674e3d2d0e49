package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAbortNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out")
	f, err := Create(target, 0o600, false)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one")
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("target visible before Commit")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	if b, _ := os.ReadFile(target); string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	if _, err := Create(target, 0o600, false); !errors.Is(err, ErrExists) {
		t.Fatalf("create over existing: %v", err)
	}
	// The target appears while writing: Commit refuses.
	other := filepath.Join(dir, "race")
	f, _ = Create(other, 0o644, false)
	os.WriteFile(other, []byte("theirs"), 0o644)
	if err := f.Commit(); !errors.Is(err, ErrExists) {
		t.Fatalf("commit over a new file: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "theirs" {
		t.Fatal("existing file replaced")
	}
	// Abort leaves nothing; force replaces.
	f, _ = Create(filepath.Join(dir, "gone"), 0o644, false)
	f.Abort()
	if err := WriteFile(target, []byte("two"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "two" {
		t.Fatalf("forced content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("left behind: %v", ents)
	}
}
