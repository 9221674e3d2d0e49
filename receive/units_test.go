package receive

import (
	"strings"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1: "1 byte", 999: "999 bytes", 1000: "1.0 kB",
		52428800: "52.4 MB", 1500000000: "1.5 GB", 2e15: "2000.0 TB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Rate(100e6, time.Second); got != "100.0 MB in 1s (100.0 MB/s)" {
		t.Errorf("Rate = %q", got)
	}
	if got := Rate(5, 0); !strings.HasPrefix(got, "5 bytes in 0s (") {
		t.Errorf("Rate with no time = %q", got)
	}
}
