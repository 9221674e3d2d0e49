//go:build !linux

package receive

import "os"

// renameNoReplace moves oldDir/oldName to newDir/newName inside root,
// failing with fs.ErrExist if the new name exists. Without renameat2 it
// is renameChecked.
func renameNoReplace(root *os.Root, oldDir, oldName, newDir, newName string) error {
	return renameChecked(root, oldDir, oldName, newDir, newName)
}
