package gospake2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// python finds Debian's python3 with python3-spake2, or skips the test —
// unless FERRY_REQUIRE_PEERS=1 (CI), when a missing peer fails it.
func python(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import spake2").Run(); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("python3-spake2 is not usable (%v) and FERRY_REQUIRE_PEERS=1", err)
		}
		t.Skipf("python3-spake2 is not installed: %v", err)
	}
	return py
}

// exchange runs one live exchange: Go with goPw, Python with pyPw.
func exchange(t *testing.T, py string, goPw, pyPw, id string) (goKey, pyKey []byte) {
	t.Helper()
	s := SPAKE2Symmetric(NewPassword(goPw), NewIdentityS(id))
	msg := s.Start()
	cmd := exec.Command(py, "testdata/peer.py")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("h%x h%x h%x\n", pyPw, id, msg))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python peer: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("python peer said %q", out)
	}
	pyMsg, _ := hex.DecodeString(f[0])
	pyKey, _ = hex.DecodeString(f[1])
	goKey, err = s.Finish(pyMsg)
	if err != nil {
		t.Fatal(err)
	}
	return goKey, pyKey
}

func TestLiveAgainstPython(t *testing.T) {
	py := python(t)
	const app = "lothar.com/wormhole/text-or-file-xfer"
	for _, pw := range []string{"7-guitarist-revenge", "", "4-über-café"} {
		for range 3 {
			g, p := exchange(t, py, pw, pw, app)
			if !bytes.Equal(g, p) || len(g) != 32 {
				t.Fatalf("password %q: go key %x, python key %x", pw, g, p)
			}
		}
	}
	g, p := exchange(t, py, "7-guitarist-revenge", "7-guitarist-revenue", app)
	if bytes.Equal(g, p) {
		t.Fatal("different passwords agreed on a key")
	}
}

// TestLiveAgainstOriginal runs fresh exchanges with the original gospake2
// that wormhole-william links (Debian's golang-debian-vasudev-gospake2-dev),
// through testdata/gen_upstream_vectors.sh: every key it derives must be
// ours or our LegacyKey. In 3000 exchanges about 12 need the legacy key.
func TestLiveAgainstOriginal(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds and runs the original gospake2")
	}
	const src = "/usr/share/gocode/src/salsa.debian.org/vasudev/gospake2"
	if _, err := os.Stat(src); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("golang-debian-vasudev-gospake2-dev is not installed (%v) and FERRY_REQUIRE_PEERS=1", err)
		}
		t.Skipf("golang-debian-vasudev-gospake2-dev is not installed: %v", err)
	}
	var stderr strings.Builder
	cmd := exec.Command("sh", "testdata/gen_upstream_vectors.sh", "3000", "all")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gen_upstream_vectors.sh: %v\n%s", err, stderr.String())
	}
	n := checkUpstream(t, out)
	t.Logf("%d of 3000 exchanges needed the legacy key", n)
	if n == 0 {
		t.Error("no exchange needed the legacy key: the original's flaw was not exercised")
	}
}
