package classic

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// Bounds on a classic folder offer's zip, derived from the numbers the
// offer declares (and the receiver shows): a zip of numfiles files holds
// at most MaxZipEntries entries (files, and folder entries some senders
// add), its central directory at most MaxZipDirectory bytes, the whole
// zip at most MaxZipSize bytes, and extracting it creates at most
// MaxZipFolders folders (the Python client writes only files: folders
// come from the names).
const (
	zipExtraEntries = 256       // folder entries beyond two per file
	zipEntryBytes   = 46 + 1152 // a central directory record: header, name and extras, on average
	zipFileOverhead = 2560      // local header, directory record, descriptor per entry
	zipFoldersEach  = 64        // folders a file's path may add, on average
)

// MaxZipEntries is how many entries the zip of numfiles files may list.
func MaxZipEntries(numfiles int64) int64 { return 2*numfiles + zipExtraEntries }

// MaxZipDirectory is the largest central directory that zip may have.
func MaxZipDirectory(numfiles int64) int64 { return MaxZipEntries(numfiles) * zipEntryBytes }

// MaxZipSize is the largest zip a folder offer of numbytes bytes in
// numfiles files may declare: the data (deflate may grow it a little)
// plus the headers of each entry.
func MaxZipSize(numbytes, numfiles int64) int64 {
	return numbytes + numbytes/256 + MaxZipEntries(numfiles)*zipFileOverhead + 64<<10
}

// MaxZipFolders is how many folders extracting it may create.
func MaxZipFolders(numfiles int64) int64 {
	return min(transfer.MaxFolders, 1+zipFoldersEach*numfiles+zipExtraEntries)
}

// CheckZipDirectory reads a zip's end-of-central-directory record (the
// one archive/zip will use) and refuses a directory of more than
// maxEntries entries or maxBytes bytes, before anything reads it.
func CheckZipDirectory(r io.ReaderAt, size, maxEntries, maxBytes int64) error {
	const eocdLen, locatorLen, zip64Len = 22, 20, 56
	tail := min(size, 65535+eocdLen)
	b := make([]byte, tail)
	if _, err := r.ReadAt(b, size-tail); err != nil {
		return fmt.Errorf("read the zip: %w", err)
	}
	at := -1
	for i := len(b) - eocdLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(b[i:]) == 0x06054b50 {
			if i+eocdLen+int(binary.LittleEndian.Uint16(b[i+20:])) <= len(b) {
				at = i
			}
			break
		}
	}
	if at < 0 {
		return fmt.Errorf("read the zip: no end of central directory")
	}
	e := b[at:]
	entries := int64(binary.LittleEndian.Uint16(e[10:]))
	dirSize := int64(binary.LittleEndian.Uint32(e[12:]))
	if entries == 0xffff || dirSize == 0xffff || binary.LittleEndian.Uint32(e[16:]) == 0xffffffff {
		end := size - tail + int64(at) // where the record starts in the file
		var loc [locatorLen]byte
		if end >= locatorLen {
			if _, err := r.ReadAt(loc[:], end-locatorLen); err != nil {
				return fmt.Errorf("read the zip: %w", err)
			}
		}
		if binary.LittleEndian.Uint32(loc[:]) == 0x07064b50 {
			off := binary.LittleEndian.Uint64(loc[8:])
			var z [zip64Len]byte
			if off > uint64(size-zip64Len) {
				return fmt.Errorf("read the zip: bad zip64 directory offset")
			}
			if _, err := r.ReadAt(z[:], int64(off)); err != nil {
				return fmt.Errorf("read the zip: %w", err)
			}
			if binary.LittleEndian.Uint32(z[:]) != 0x06064b50 {
				return fmt.Errorf("read the zip: bad zip64 directory record")
			}
			e64, d64 := binary.LittleEndian.Uint64(z[32:]), binary.LittleEndian.Uint64(z[40:])
			if e64 > uint64(maxEntries) || d64 > uint64(maxBytes) {
				return fmt.Errorf("the zip's directory lists %d entries in %d bytes; the offer allows %d entries in %d bytes", e64, d64, maxEntries, maxBytes)
			}
			entries, dirSize = int64(e64), int64(d64)
		}
	}
	if entries > maxEntries || dirSize > maxBytes {
		return fmt.Errorf("the zip's directory lists %d entries in %d bytes; the offer allows %d entries in %d bytes", entries, dirSize, maxEntries, maxBytes)
	}
	return nil
}
