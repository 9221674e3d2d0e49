package receive

import (
	"fmt"
	"time"
)

// Bytes formats n bytes for people: 5 bytes, 1 byte, 1.2 MB (decimal
// units), the same way in the command line, the page and this package's
// errors.
func Bytes(n int64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	f, unit := float64(n), "kB"
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f, unit = f/1000, u
		if f < 1000 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

// Rate formats a finished transfer: "1.0 GB in 9.8s (102 MB/s)".
func Rate(n int64, d time.Duration) string {
	s := d.Seconds()
	if s <= 0 {
		s = 1e-9
	}
	return fmt.Sprintf("%s in %s (%s/s)", Bytes(n), d.Round(time.Millisecond), Bytes(int64(float64(n)/s)))
}
