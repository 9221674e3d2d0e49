package receive_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// TestHostileOffers: what the offer itself says is checked before the
// user is asked (Accept is never called) and nothing lands.
func TestHostileOffers(t *testing.T) {
	var free unix.Statfs_t
	if err := unix.Statfs(t.TempDir(), &free); err != nil {
		t.Fatal(err)
	}
	// more than the whole filesystem holds, so that no other test freeing
	// space meanwhile (files_big removes 4 GiB) can make it fit
	tooBig := int64(free.Blocks)*int64(free.Bsize) + 1<<30
	twentyFive := transfer.Manifest{Files: 25, Bytes: 25}
	for i := range 25 {
		name := fmt.Sprintf("f%02d", i)
		if i == 20 {
			name = ".bash_profile"
		}
		twentyFive.Entries = append(twentyFive.Entries, transfer.Entry{Name: name, Size: 1, Exec: i == 20})
	}
	dirOffer := func(d classic.DirectoryOffer) classicSender {
		raw, _ := json.Marshal(d)
		return classicSender{offer: transfer.Offer{Directory: raw}, body: records()}
	}
	cases := map[string]struct {
		run  func(h *harness)
		want string
		is   error
	}{
		"dotfile behind twenty names": {run: func(h *harness) {
			hostile{man: twentyFive, body: func(io.Writer) {}}.run(h.ctx, h.t, h.url, h.code)
		}, is: receive.ErrDotfile, want: `refusing ".bash_profile"`},
		"classic dotfile": {run: func(h *harness) {
			classicSender{offer: fileOffer(".profile", 1), body: records("a")}.run(h.ctx, h.t, h.url, h.code)
		}, is: receive.ErrDotfile},
		"more than the disk holds": {run: func(h *harness) {
			hostile{man: one("big", tooBig), body: func(io.Writer) {}}.run(h.ctx, h.t, h.url, h.code)
		}, want: "not enough space"},
		"classic file larger than the disk": {run: func(h *harness) {
			classicSender{offer: fileOffer("big", tooBig), body: records("a")}.run(h.ctx, h.t, h.url, h.code)
		}, want: "not enough space"},
		"classic zipsize far beyond numbytes": {run: func(h *harness) {
			dirOffer(classic.DirectoryOffer{Mode: classic.ZipMode, Dirname: "d", Zipsize: 993 << 20, Numbytes: 10, Numfiles: 1}).run(h.ctx, h.t, h.url, h.code)
		}, want: "declares a zip of 1041235968 bytes for 10 bytes of files"},
		"folders beyond the allowed": {run: func(h *harness) {
			hostile{man: transfer.Manifest{Files: 1, Folders: transfer.MaxFolders + 1, Bytes: 1, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 1}}},
				body: func(io.Writer) {}}.run(h.ctx, h.t, h.url, h.code)
		}, want: "folders; ferry accepts at most"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			c.run(&harness{ctx: ctx, t: t, url: url, code: "41-evil-offer"})
			asked := false
			_, err := receive.Run(ctx, "41-evil-offer", receive.Options{
				Relay: url, Out: out, Transport: transfer.TransportTCP, Accept: func(transfer.Manifest) error { asked = true; return nil },
			})
			if err == nil {
				t.Fatal("hostile offer accepted")
			}
			t.Logf("refused: %v", err)
			if asked {
				t.Error("the user was asked about an offer that cannot be taken")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			nothingLanded(t, base)
		})
	}
}

type harness struct {
	ctx  context.Context
	t    *testing.T
	url  string
	code string
}

// TestFolderFlood: an offer of "1 file, 1 byte" whose stream then makes
// thousands of folders (or names one folder thousands of times) is
// refused at the first folder beyond the declared, and nothing lands.
func TestFolderFlood(t *testing.T) {
	flood := func(w io.Writer, name func(int) string) {
		tw := tar.NewWriter(w)
		tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755})
		for i := range 5000 {
			tw.WriteHeader(&tar.Header{Name: name(i), Typeflag: tar.TypeDir, Mode: 0o755})
		}
		tw.WriteHeader(&tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
		tw.Write([]byte("x"))
		tw.Close()
	}
	man := transfer.Manifest{Files: 1, Folders: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 1}}}
	for name, body := range map[string]func(io.Writer){
		"many folders":    func(w io.Writer) { flood(w, func(i int) string { return fmt.Sprintf("d/%d/", i) }) },
		"repeated folder": func(w io.Writer) { flood(w, func(int) string { return "d/" }) },
		"deep folders":    func(w io.Writer) { flood(w, func(i int) string { return "d/" + strings.Repeat("a/", i%400+1) }) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			hostile{man: man, body: body}.run(ctx, t, url, "42-folder-flood")
			_, err := receive.Run(ctx, "42-folder-flood", receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil }})
			if err == nil {
				t.Fatal("folder flood accepted")
			}
			t.Logf("refused: %v", err)
			nothingLanded(t, base)
		})
	}
}

// TestDotfilesAndModesRoundTrip: ferry's own sender declares folders and
// executables as the receiver checks them: a tree with a dotfile, an
// executable and subfolders arrives with --allow-dotfiles, the
// executable still executable, and the prompt is shown them.
func TestDotfilesAndModesRoundTrip(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	ctx, url := setup(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "tree", "a", "b"), 0o777)
	os.WriteFile(filepath.Join(src, "tree", "a", "b", "run.sh"), []byte("#!/bin/sh\n"), 0o777)
	os.WriteFile(filepath.Join(src, ".hidden"), []byte("h"), 0o600)
	os.WriteFile(filepath.Join(src, "tool"), []byte("t"), 0o755)
	_, out := landingDirs(t)
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }}, Transport: transfer.TransportTCP},
			[]string{filepath.Join(src, "tree"), filepath.Join(src, ".hidden"), filepath.Join(src, "tool")})
		errc <- err
	}()
	var seen transfer.Manifest
	_, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Out: out, AllowDotfiles: true, Transport: transfer.TransportTCP,
		Accept: func(m transfer.Manifest) error { seen = m; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if seen.Folders != 3 || seen.Files != 3 {
		t.Errorf("offer declared %d files in %d folders, want 3 in 3", seen.Files, seen.Folders)
	}
	var exec []string
	for _, e := range seen.Entries {
		if e.Exec {
			exec = append(exec, e.Name)
		}
	}
	if len(exec) != 1 || exec[0] != "tool" {
		t.Errorf("offer marks %v executable, want [tool]", exec)
	}
	for name, want := range map[string]os.FileMode{"tool": 0o755, "tree/a/b/run.sh": 0o755, ".hidden": 0o600, "tree/a": os.ModeDir | 0o755} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: %v, want %v", name, fi.Mode(), want)
		}
	}
}
