package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeployExample: the deploy/ example's node files give `ferry relay`
// only flags it has, each node its own name, cluster address and data
// folder (the directory its systemd unit's StateDirectory makes), and all
// the same routes.
func TestDeployExample(t *testing.T) {
	var usage lockedBuffer
	newCLI(strings.NewReader(""), io.Discard, &usage).run(context.Background(), []string{"relay", "-h"})
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		known[m[1]] = true
	}
	if !known["nats-routes"] || !known["public-host"] {
		t.Fatalf("could not read ferry relay's flags from its usage:\n%s", usage.String())
	}
	unit, err := os.ReadFile("../../deploy/systemd/ferry-relay@.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "StateDirectory=ferry-relay-%i") || !strings.Contains(string(unit), "ExecStart=/usr/local/bin/ferry relay $FERRY_RELAY_ARGS") {
		t.Fatalf("the unit no longer runs ferry relay $FERRY_RELAY_ARGS in /var/lib/ferry-relay-%%i")
	}
	files, _ := filepath.Glob("../../deploy/systemd/relay-*.env")
	if len(files) != 3 {
		t.Fatalf("deploy has %d node files, want 3", len(files))
	}
	seen := map[string]map[string]string{}
	for _, f := range files {
		n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "relay-"), ".env")
		args := envArgs(t, f)
		vals := map[string]string{}
		for i := 0; i < len(args); i++ {
			name, ok := strings.CutPrefix(args[i], "--")
			if !ok || !known[name] {
				t.Errorf("%s: %q is not a flag of ferry relay", f, args[i])
				continue
			}
			if name != "nats-embedded" && i+1 < len(args) {
				vals[name] = args[i+1]
				i++
			}
		}
		if vals["data"] != "/var/lib/ferry-relay-"+n {
			t.Errorf("%s: --data %q, not the unit's StateDirectory /var/lib/ferry-relay-%s", f, vals["data"], n)
		}
		if !strings.Contains(vals["nats-routes"], vals["nats-cluster"]) {
			t.Errorf("%s: --nats-routes %q does not list its own --nats-cluster %q", f, vals["nats-routes"], vals["nats-cluster"])
		}
		seen[n] = vals
	}
	for _, key := range []string{"nats-name", "nats-cluster", "public-host", "turn-ip", "data"} {
		got := map[string]bool{}
		for _, v := range seen {
			got[v[key]] = true
		}
		if len(got) != 3 {
			t.Errorf("the nodes do not each have their own --%s: %v", key, got)
		}
	}
	if seen["1"]["nats-routes"] != seen["2"]["nats-routes"] || seen["2"]["nats-routes"] != seen["3"]["nats-routes"] {
		t.Errorf("the nodes' --nats-routes differ")
	}
}

// envArgs is FERRY_RELAY_ARGS of a systemd environment file, split on
// spaces as systemd splits $VAR.
func envArgs(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "FERRY_RELAY_ARGS="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatalf("%s has no FERRY_RELAY_ARGS", file)
	return nil
}
