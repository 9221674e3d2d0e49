package escape

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestTerminal: the last guard escapes raw control and invisible
// characters and leaves text that is already escaped as it is.
func TestTerminal(t *testing.T) {
	raw := "relay said \x1b]0;pwned\x07 and \u200b, path C:\\x"
	if got, want := Terminal(raw), `relay said \x1b]0;pwned\x07 and \u{200b}, path C:\x`; got != want {
		t.Errorf("Terminal(%q) = %q, want %q", raw, got, want)
	}
	for _, s := range []string{String(raw), Quote(raw), "plain ascii", "日本語 ❤️"} {
		if got := Terminal(s); got != s {
			t.Errorf("Terminal changed safe text %q to %q", s, got)
		}
	}
}

// FuzzEscape: whatever comes in, String's output is valid UTF-8 with
// nothing a terminal acts on or hides, Quote's is at most MaxQuote
// characters between its quotation marks, and Terminal leaves both alone.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[2J", "\xff\xfe", "\u202e\u200b\ufeff", "❤️\ufe0f", "1\ufe0f\u20e3", `"\"`, strings.Repeat("\x00", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := String(s)
		if !utf8.ValidString(e) {
			t.Fatalf("String(%q) = %q is not valid UTF-8", s, e)
		}
		prev := rune(0)
		for _, r := range e {
			if hidden(r) || (unicode.Is(unicode.Variation_Selector, r) && !selects(prev)) {
				t.Fatalf("String(%q) = %q keeps %U", s, e, r)
			}
			prev = r
		}
		if Terminal(e) != e {
			t.Fatalf("Terminal(String(%q)) changed it", s)
		}
		// String and Text lose nothing: their output reads back exactly.
		for _, out := range []string{e, Text(s)} {
			if back, err := unescape(out); err != nil || back != s {
				t.Fatalf("%q escaped as %q reads back as %q (%v)", s, out, back, err)
			}
		}
		q := Quote(s)
		if n := utf8.RuneCountInString(q); n > MaxQuote+3 || q[0] != '"' || q[len(q)-1] != '"' {
			t.Fatalf("Quote(%q) = %q: %d characters", s, q, n)
		}
		if Terminal(q) != q {
			t.Fatalf("Terminal(Quote(%q)) changed it", s)
		}
	})
}

// unescape reads back String's and Text's output: \\, \xNN (a byte) and \u{N…} (a
// rune); a backslash before anything else is an error.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, `\`):
			b.WriteByte('\\')
			i++
		case strings.HasPrefix(rest, "x") && len(rest) >= 3:
			n, err := strconv.ParseUint(rest[1:3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(n))
			i += 3
		case strings.HasPrefix(rest, "u{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", errors.New("unterminated \\u{")
			}
			n, err := strconv.ParseUint(rest[2:end], 16, 32)
			if err != nil {
				return "", err
			}
			b.WriteRune(rune(n))
			i += end + 1
		default:
			return "", errors.New("stray backslash")
		}
	}
	return b.String(), nil
}
