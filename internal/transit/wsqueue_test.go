package transit

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestWSQueue: what a browser's WebSocket delivers is read back in order;
// a relay that gets more than the limit ahead of the reader ends the
// connection with a clear error (and the queue lets go of what it held),
// while one that stays within it, however much it sends in all, does not.
func TestWSQueue(t *testing.T) {
	q := newWSQueue(1 << 20)
	var want bytes.Buffer
	for i := range 64 { // 64 MiB in all, never more than 512 KiB ahead
		b := bytes.Repeat([]byte{byte(i)}, 512<<10)
		want.Write(b)
		if err := q.push(b); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		got := make([]byte, 512<<10)
		if _, err := io.ReadFull(q, got); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	q.push([]byte("tail"))
	q.end(io.EOF)
	if got, err := io.ReadAll(q); err != nil || string(got) != "tail" {
		t.Fatalf("after the end: %q, %v", got, err)
	}

	q = newWSQueue(1 << 20)
	for range 16 {
		if err := q.push(make([]byte, 64<<10)); err != nil {
			t.Fatalf("within the limit: %v", err)
		}
	}
	err := q.push([]byte{1})
	if err == nil || !strings.Contains(err.Error(), "more than 1 MiB") {
		t.Fatalf("one byte past the limit: %v", err)
	}
	if q.queued != 0 || q.bufs != nil {
		t.Errorf("the queue still holds %d bytes", q.queued)
	}
	if _, rerr := q.Read(make([]byte, 10)); !errors.Is(rerr, err) {
		t.Fatalf("read after the overflow: %v, want %v", rerr, err)
	}
}
