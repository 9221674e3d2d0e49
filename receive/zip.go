package receive

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
)

// writeZip lands a classic sender's folder: the zip (size bytes from r)
// goes to a scratch file beside the staging folder, since a zip is read
// from its end; then every entry is extracted into the staging folder
// under the offer's single folder name, with the same rules as ferry's
// own folders: plain relative names only, no links or special files, no
// duplicates, no more files or bytes than the offer declared. The zip's
// directory is checked against the offer before it is read, so what it
// costs in memory is bounded by the declared number of files.
func (d *dest) writeZip(r io.Reader, size int64) error {
	top := d.man.Entries[0]
	if len(d.man.Entries) != 1 || !top.Dir {
		return errors.New("a zip must carry exactly one folder")
	}
	d.scratch = d.stage + scratchSuffix
	f, err := d.root.OpenFile(d.scratch, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary zip file: %w", err)
	}
	defer f.Close()
	n, err := transfer.Copy(f, io.LimitReader(r, size+1), d.copyBuf())
	if err != nil {
		return fmt.Errorf("receive the zip: %w", err)
	}
	if n != size {
		return fmt.Errorf("the sender declared a zip of %d bytes but sent %d", size, n)
	}
	maxEntries, maxDir := classic.MaxZipEntries(d.man.Files), classic.MaxZipDirectory(d.man.Files)
	if err := classic.CheckZipDirectory(f, size, maxEntries, maxDir); err != nil {
		return err
	}
	// archive/zip reads directory records for as long as they parse,
	// whatever the count says: it reads through a budget.
	br := &budgetReader{r: f, left: maxDir + 128<<10}
	zr, err := zip.NewReader(br, size)
	if errors.Is(err, errBudget) {
		return fmt.Errorf("the zip's directory is larger than the offer allows (%d bytes)", maxDir)
	}
	if err != nil {
		return fmt.Errorf("read the zip: %w", err)
	}
	br.left = -1 // the data is bounded by the declared sizes
	if int64(len(zr.File)) > maxEntries {
		return fmt.Errorf("the zip lists %d entries; the offer allows %d", len(zr.File), maxEntries)
	}
	if err := d.mkdir(top.Name, 0o755, time.Time{}, true); err != nil {
		return err
	}
	d.present[top.Name] = true
	for _, zf := range zr.File {
		if err := d.extractZipEntry(zf, top.Name); err != nil {
			return err
		}
	}
	return nil
}

func (d *dest) extractZipEntry(zf *zip.File, top string) error {
	name, err := d.checkPath(top + "/" + zf.Name)
	if err != nil {
		return fmt.Errorf("refusing zip entry \"%s\": %w", transfer.Escape(zf.Name), err)
	}
	if name == top {
		return fmt.Errorf("refusing zip entry \"%s\": not a plain relative path", transfer.Escape(zf.Name))
	}
	mode := zf.Mode()
	if strings.HasSuffix(zf.Name, "/") || mode.IsDir() {
		if err := d.ensureParents(name); err != nil {
			return err
		}
		return d.mkdir(name, mode.Perm(), zf.Modified, true)
	}
	if mode.Type() != 0 {
		return fmt.Errorf("refusing \"%s\": links and special files are not accepted", transfer.Escape(name))
	}
	if zf.UncompressedSize64 > uint64(d.man.Bytes-d.bytes) {
		return fmt.Errorf("%s is larger than the sender declared", transfer.Escape(name))
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("read %s from the zip: %w", transfer.Escape(name), err)
	}
	defer rc.Close()
	if err := d.writeFile(name, int64(zf.UncompressedSize64), mode.Perm(), zf.Modified, rc, nil); err != nil {
		return err
	}
	// Reading to the end makes archive/zip check the CRC and that the
	// entry holds no more than it declared.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("%s in the zip is damaged or larger than declared", transfer.Escape(name))
	}
	return nil
}

var errBudget = errors.New("read budget exhausted")

// budgetReader is an io.ReaderAt that fails once left bytes have been read
// (left < 0: no limit).
type budgetReader struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if b.left >= 0 {
		if int64(len(p)) > b.left {
			return 0, errBudget
		}
		b.left -= int64(len(p))
	}
	return b.r.ReadAt(p, off)
}
