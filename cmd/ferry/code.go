package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/ferrydrop/ferry/receive"
)

// envCode holds the code for scripts. The environment of a process is
// readable only by its own user (/proc/PID/environ is mode 0400), unlike
// its command line, which every user can read (/proc/PID/cmdline, ps): a
// code there lets anyone else on the computer receive the transfer first
// (croc's CVE-2023-43621).
const envCode = "FERRY_CODE"

// badCode reports a code of the wrong shape (from names where it came
// from, "--code: " say) and returns the usage exit code.
func (c *cli) badCode(from string, err error) int {
	c.errorf("%s%v", from, err)
	if np := (*receive.NameplateError)(nil); errors.As(err, &np) {
		c.hintf("a code looks like 7-guitarist-revenge: a number, then words, joined by dashes")
	}
	return exitUsage
}

// codeURI takes a code given as its wormhole-transfer: URI, what a QR
// scanner hands over: it returns the code, and sets *relay to the relay
// the URI names, if it names one. A --relay on the command line that
// says otherwise is an error; so is a URI that asks this side to send. A
// code that is no URI comes back as it is.
func (c *cli) codeURI(fs *flag.FlagSet, code string, relay *string) (string, error) {
	if !receive.IsCodeURI(code) {
		return code, nil
	}
	uriCode, r, leader, err := receive.ParseCodeURI(code)
	if err != nil {
		return "", fmt.Errorf("read the code's URI: %w", err)
	}
	if leader {
		return "", errors.New(`the code's URI asks this side to send (role=leader): run "ferry send" instead`)
	}
	if r != "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "relay" })
		if !explicit {
			*relay = r
			return uriCode, nil
		}
		// A pool that holds the URI's relay is kept, that relay first.
		pool := []string{r}
		found := false
		for _, u := range strings.Split(*relay, ",") {
			switch u = strings.TrimSpace(u); {
			case u == r:
				found = true
			case u != "":
				pool = append(pool, u)
			}
		}
		if !found {
			return "", fmt.Errorf("the code's URI names relay %s, --relay says %s", r, *relay)
		}
		*relay = strings.Join(pool, ",")
	}
	return uriCode, nil
}

// codeFromStdin reads the code, one line, from stdin ("-" in place of a code).
func (c *cli) codeFromStdin(ctx context.Context) (string, error) {
	s, err := c.readLine(ctx)
	if err != nil {
		return "", fmt.Errorf("read the code from stdin: %w", err)
	}
	return strings.TrimSpace(s), nil
}

// warnCodeInArgs warns, on a computer others log in to, that a code given
// on the command line can be read by them. role is "send" or "receive".
func (c *cli) warnCodeInArgs(role string) {
	if c.sharedComputer == nil || !c.sharedComputer() {
		return
	}
	c.warnf("the code is on the command line, where other users of this computer can read it (ps, /proc) and use it first")
	if role == "send" {
		c.hintf("leave out --code to get a new code from the relay, or pass it in %s or on stdin (--code -)", envCode)
	} else {
		c.hintf("run \"ferry receive\" and type the code when asked, or pass it in %s or on stdin (\"ferry receive -\")", envCode)
	}
}

// The range of user ids that belong to people (login.defs UID_MIN and
// UID_MAX on Debian, Ubuntu, Fedora and Arch).
const uidMin, uidMax = 1000, 60000

// sharedComputer reports whether someone else may read ferry's command
// line: /etc/passwd lists a person's account (uid uidMin to uidMax, with
// a login shell) other than the current user's, and /proc does not hide
// other users' processes (hidepid). Accounts only in a directory service
// (LDAP, sssd) are not seen; a computer without /etc/passwd counts as not
// shared.
func sharedComputer() bool {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return false
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo") // absent off Linux
	return otherLogins(string(passwd), os.Getuid()) && !procHidesPIDs(string(mountinfo))
}

// otherLogins reports whether passwd (the text of /etc/passwd) has an
// account for a person, able to log in, whose uid is not uid.
func otherLogins(passwd string, uid int) bool {
	for line := range strings.Lines(passwd) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) < 7 || strings.HasPrefix(f[0], "#") {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil || id == uid || id < uidMin || id > uidMax {
			continue
		}
		switch path.Base(f[6]) {
		case "nologin", "false", "sync", "shutdown", "halt":
			continue
		}
		return true
	}
	return false
}

// procHidesPIDs reports whether mountinfo (the text of
// /proc/self/mountinfo) mounts /proc with hidepid set, so that other
// users cannot read our /proc/PID/cmdline. Of several mounts on /proc,
// the last is the one in use.
func procHidesPIDs(mountinfo string) bool {
	hidden := false
	for line := range strings.Lines(mountinfo) {
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || f[4] != "/proc" || len(g) < 3 || g[0] != "proc" {
			continue
		}
		hidden = false
		for _, opt := range strings.Split(g[2], ",") {
			if v, ok := strings.CutPrefix(opt, "hidepid="); ok && v != "0" && v != "off" {
				hidden = true
			}
		}
	}
	return hidden
}
