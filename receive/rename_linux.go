package receive

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace moves oldDir/oldName to newDir/newName inside root (the
// folders are opened through root, so nothing outside it is reached; the
// names are single components), failing with fs.ErrExist if the new name
// exists: the check and the rename are one step (renameat2 with
// RENAME_NOREPLACE). Where the filesystem lacks it, renameChecked.
func renameNoReplace(root *os.Root, oldDir, oldName, newDir, newName string) error {
	from, err := root.Open(oldDir)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := root.Open(newDir)
	if err != nil {
		return err
	}
	defer to.Close()
	err = unix.Renameat2(int(from.Fd()), oldName, int(to.Fd()), newName, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return renameChecked(root, oldDir, oldName, newDir, newName)
	}
	return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: err}
}
