package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestOtherLogins: a computer counts as shared when /etc/passwd has a
// person's account, with a login shell, other than ours.
func TestOtherLogins(t *testing.T) {
	const system = "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n"
	for _, tc := range []struct {
		name   string
		passwd string
		uid    int
		want   bool
	}{
		{"only system accounts, as root", system, 0, false},
		{"only me", system + "ann:x:1000:1000:Ann:/home/ann:/bin/bash\n", 1000, false},
		{"me, with another shell", system + "ann:x:1000:1000:Ann:/home/ann:/bin/zsh\n", 1000, false},
		{"another person", system + "ann:x:1000:1000::/home/ann:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n", 1000, true},
		{"a person, and I am root", system + "ann:x:1000:1000::/home/ann:/bin/bash\n", 0, true},
		{"another account that cannot log in", system + "ann:x:1000:1000::/home/ann:/bin/bash\nsvc:x:1001:1001::/srv:/usr/sbin/nologin\nx:x:1002:1002::/:/bin/false\n", 1000, false},
		{"an empty shell is /bin/sh", system + "bob:x:1001:1001::/home/bob:\n", 1000, true},
		{"above UID_MAX", system + "dyn:x:61184:61184::/:/bin/sh\n", 1000, false},
		{"comments, CRLF and junk", "# bob:x:1001:1001::/home/bob:/bin/sh\r\nnot a line\r\nann:x:1000:1000::/home/ann:/bin/bash\r\n", 1000, false},
	} {
		if got := otherLogins(tc.passwd, tc.uid); got != tc.want {
			t.Errorf("%s: otherLogins = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestProcHidesPIDs: /proc mounted with hidepid keeps our command line
// from other users.
func TestProcHidesPIDs(t *testing.T) {
	const other = "21 26 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
	for _, tc := range []struct {
		mountinfo string
		want      bool
	}{
		{other + "22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n", false},
		{other + "22 26 0:21 / /proc rw,relatime - proc proc rw,hidepid=2\n", true},
		{"22 26 0:21 / /proc rw,relatime - proc proc rw,hidepid=invisible,gid=27\n", true},
		{"22 26 0:21 / /proc rw,relatime - proc proc rw,hidepid=1\n", true},
		{"22 26 0:21 / /proc rw,relatime - proc proc rw,hidepid=0\n", false},
		{"22 26 0:21 / /proc rw - proc proc rw,hidepid=2\n40 22 0:33 / /proc rw - proc proc rw\n", false}, // the last mount counts
		{"22 26 0:21 / /mnt/proc rw - proc proc rw,hidepid=2\n", false},
		{"", false},
	} {
		if got := procHidesPIDs(tc.mountinfo); got != tc.want {
			t.Errorf("procHidesPIDs(%q) = %v, want %v", tc.mountinfo, got, tc.want)
		}
	}
}

// TestMessagesEscaped: whatever reaches an error, warning or hint line
// raw, the line shows it escaped; text already escaped is left alone.
func TestMessagesEscaped(t *testing.T) {
	var stderr bytes.Buffer
	c := newCLI(strings.NewReader(""), &bytes.Buffer{}, &stderr)
	c.errorf("peer said %s", "\x1b]0;title\x07\x1b[2J\u200b\nferry: done")
	c.hintf("%s", `already \x1b escaped`)
	want := "ferry: error: peer said \\x1b]0;title\\x07\\x1b[2J\\u{200b}\\x0aferry: done\n" +
		"ferry: hint: already \\x1b escaped\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}
