// Package safefile writes a file so that it appears whole or not at all:
// data goes to a temporary file in the target's folder, which is renamed
// onto the target only when the caller commits (after its checks passed).
// Without force, an existing target is never replaced.
package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists means the target exists and replacing it was not allowed.
var ErrExists = errors.New("already exists")

// File is a pending file: write to it, then Commit or Abort.
type File struct {
	*os.File
	target string
	force  bool
	done   bool
}

// Create starts a pending file for target with the given permissions.
// Without force it fails at once if target exists (Commit checks again).
func Create(target string, perm fs.FileMode, force bool) (*File, error) {
	if !force {
		if _, err := os.Lstat(target); err == nil {
			return nil, fmt.Errorf("%s %w", target, ErrExists)
		}
	}
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, ".ferry-*.part")
	if err != nil {
		return nil, fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("set permissions of %s: %w", f.Name(), err)
	}
	return &File{File: f, target: target, force: force}, nil
}

// Commit flushes the data to disk and puts the file in place.
func (f *File) Commit() error {
	if f.done {
		return errors.New("safefile: already committed or aborted")
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	if f.force {
		if err := os.Rename(tmp, f.target); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("rename to %s: %w", f.target, err)
		}
		return nil
	}
	// A hard link fails if the target appeared meanwhile: no race.
	err := os.Link(tmp, f.target)
	switch {
	case err == nil:
		os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		os.Remove(tmp)
		return fmt.Errorf("%s %w", f.target, ErrExists)
	}
	// Filesystems without hard links: check, then rename.
	if _, lerr := os.Lstat(f.target); lerr == nil {
		os.Remove(tmp)
		return fmt.Errorf("%s %w", f.target, ErrExists)
	}
	if err := os.Rename(tmp, f.target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename to %s: %w", f.target, err)
	}
	return nil
}

// Abort discards the pending file; after Commit it does nothing, so it
// can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to target whole or not at all.
func WriteFile(target string, data []byte, perm fs.FileMode, force bool) error {
	f, err := Create(target, perm, force)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return f.Commit()
}
