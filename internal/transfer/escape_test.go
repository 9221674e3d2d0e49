package transfer

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":          "report.pdf",
		"héllo wörld":         "héllo wörld",
		"\x1b[31mred":         `\x1b[31mred`,
		"a\nb\tc":             `a\x0ab\x09c`,
		"evil\u202egnp.exe":   `evil\u{202e}gnp.exe`,
		"bad\xffutf8":         `bad\xffutf8`,
		`back\slash`:          `back\\slash`,
		"c1\u0085control":     `c1\u{0085}control`,
		"line\u2028separator": `line\u{2028}separator`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := EscapeText("a\nb\tc\x1b"); got != "a\nb\tc\\x1b" {
		t.Errorf("EscapeText kept or lost the wrong things: %q", got)
	}
}
