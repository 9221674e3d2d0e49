package receive

import (
	"errors"
	"fmt"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// ErrDotfile means the offer has a top-level name that starts with a dot
// and the receiver did not allow dotfiles.
var ErrDotfile = errors.New("starts with a dot")

// NoSpaceError means the output folder's filesystem has less free space
// than the transfer needs.
type NoSpaceError struct {
	Dir        string
	Need, Free int64 // bytes
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("not enough space in %s: the transfer needs %s and %s are free", e.Dir, Bytes(e.Need), Bytes(e.Free))
}

// vetOffer refuses, before the user is asked, what can be known to fail
// or to be unwanted: a top-level name starting with a dot (a .bashrc or
// .profile landing in the current folder) unless allowed, and more bytes
// than the output folder has room for. need is what the transfer will
// take on disk (a classic folder: its zip and the files).
func vetOffer(man transfer.Manifest, need int64, opts Options) error {
	if opts.Out == "-" || opts.Save != nil {
		return nil // no folder here: nothing lands beside a .bashrc
	}
	if !opts.AllowDotfiles {
		for _, e := range man.Entries {
			if e.Dotfile() {
				return fmt.Errorf("refusing \"%s\": the name %w (use --allow-dotfiles to accept it)", transfer.Escape(e.Name), ErrDotfile)
			}
		}
	}
	if need <= 0 {
		return nil
	}
	dir := opts.Out
	if dir == "" {
		dir = "."
	}
	if free, ok := freeSpace(dir); ok && free < need {
		return &NoSpaceError{Dir: dir, Need: need, Free: free}
	}
	return nil
}
