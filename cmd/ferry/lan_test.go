package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// TestLANFlag: --lan takes auto, only and off (default auto, or
// FERRY_LAN), and anything else is a usage error naming the modes.
func TestLANFlag(t *testing.T) {
	for mode, want := range map[string]struct{ lan, only bool }{"auto": {true, false}, "only": {true, true}, "off": {false, false}} {
		l, only, err := lanConfig(mode, nil)
		if err != nil || (l != nil) != want.lan || only != want.only {
			t.Errorf("lanConfig(%q) = %v, %v, %v", mode, l, only, err)
		}
	}
	t.Setenv("FERRY_LAN", "only")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	if got := *addLANFlag(fs); got != "only" {
		t.Errorf("with FERRY_LAN=only, --lan defaults to %q", got)
	}
	for _, cmd := range [][]string{{"send", "--lan", "sometimes", "--text", "x"}, {"receive", "--lan", "sometimes", "7-a-b"}} {
		var stderr bytes.Buffer
		c := newCLI(strings.NewReader(""), &bytes.Buffer{}, &stderr)
		c.sharedComputer = func() bool { return false }
		if code := c.run(context.Background(), cmd); code != exitUsage || !strings.Contains(stderr.String(), "want auto, only or off") {
			t.Errorf("ferry %s: exit %d, stderr %q; want a usage error naming the modes", strings.Join(cmd, " "), code, stderr.String())
		}
	}
}
