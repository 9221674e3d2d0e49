package send_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// TestClassicFolderToPythonFromFS sends a folder from an fs.FS (as the
// page does) to Python's wormhole receive, with no temporary directory to
// write a zip to (a browser has none): the zip is streamed, its size known
// in advance. Python unpacks it and checks every entry's CRC.
func TestClassicFolderToPythonFromFS(t *testing.T) {
	bin, err := exec.LookPath("wormhole")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("wormhole CLI not found and FERRY_REQUIRE_PEERS=1: %v", err)
		}
		t.Skip("wormhole (magic-wormhole CLI) is not installed")
	}
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "no such dir"))
	files := map[string]string{
		"album/a.txt":                  "alpha\n",
		"album/empty":                  "",
		"album/sub/deeper/b.bin":       strings.Repeat("\x00\x01\xff", 70000),
		"album/Grüße/café ☕.txt":       "non-ASCII names\n",
		"album/日本語/ファイル.md":            "# 見出し\n",
		"album/sub/with space & sign%": "odd characters\n",
	}
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body), Mode: 0o644, ModTime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	}
	rs, err := relay.New(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rs)
	t.Cleanup(func() { rs.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
	// Python starts in about a second, in many more on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const code = "40-python-folder"
	out, home := t.TempDir(), t.TempDir()
	// --no-listen: Python dials ferry's listener. Listening, it binds port
	// 0, closes it, and listens on that port again after the wait for its
	// peer; another process took the port in between once (Address already
	// in use).
	cmd := exec.CommandContext(ctx, bin, "--relay-url", url, "--transit-helper", "tcp:127.0.0.1:9",
		"receive", "--no-listen", "--accept-file", "--hide-progress", code)
	cmd.Dir = out
	cmd.Env = append(os.Environ(), "HOME="+home, "PYTHONDONTWRITEBYTECODE=1")
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sum, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: code},
		Transport: "tcp", FS: fsys}, []string{"album"})
	if err != nil {
		cancel()
		<-done
		t.Fatalf("send: %v\nwormhole receive said:\n%s", err, log.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("wormhole receive: %v\n%s", err, log.String())
	}
	if sum.Files != int64(len(files)) {
		t.Errorf("summary counts %d files, want %d", sum.Files, len(files))
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, []byte(body)) {
			t.Errorf("%s: %d bytes (%v), want %d", name, len(got), err, len(body))
		}
	}
}

// lockedBuffer is a bytes.Buffer a process may write while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
