//go:build !unix

package receive

// freeSpace is not known here: the transfer fails when the disk is full.
func freeSpace(string) (int64, bool) { return 0, false }
