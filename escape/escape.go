// Package escape makes text from others (a peer, a relay) safe to show on
// a terminal. It is a leaf package so that every layer, the mailbox client
// included, can use it; internal/transfer re-exports it as Escape,
// EscapeText and Quote.
//
// What is escaped, and why:
//   - invalid UTF-8, as \xNN;
//   - control characters (C0, DEL, C1): ANSI escapes set titles, clear the
//     screen, move the cursor;
//   - format characters (category Cf): bidirectional overrides (Trojan
//     Source, CVE-2021-42574), zero-width spaces and joiners, the word
//     joiner and invisible operators, the byte order mark, the soft
//     hyphen, the Mongolian vowel separator, tag characters;
//   - the other default-ignorable code points (the combining grapheme
//     joiner, Hangul fillers, ...), private-use characters and
//     noncharacters, the line and paragraph separators: all show as
//     nothing, or as the terminal pleases;
//   - a variation selector, unless it directly follows a character shown
//     as it is that is not ASCII (❤️, 葛󠄀) or is a keycap base (0-9 # *):
//     one selector picks the glyph of the character before it, a run of
//     them, or one after plain ASCII, hides bytes.
//
// Letters, marks, digits, punctuation and symbols of every script, and
// code points Go's Unicode tables do not know yet, are kept.
package escape

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxQuote caps the characters Quote shows between its quotation marks.
const MaxQuote = 200

// String escapes s for one line of a terminal: what the package comment
// lists, newlines and tabs included, as \xNN or \u{NNNN}. A backslash is
// doubled so that an escaped string cannot be confused with one that was
// not.
func String(s string) string { return escape(s, mode{backslash: true}) }

// Text is String for multi-line text: it keeps newlines and tabs.
func Text(s string) string { return escape(s, mode{backslash: true, keepLines: true}) }

// Quote marks s as someone else's words: escaped as by String, a quotation
// mark inside written \", cut after MaxQuote characters (ending in …), and
// put in double quotation marks.
func Quote(s string) string {
	return `"` + escape(s, mode{backslash: true, quote: true, max: MaxQuote}) + `"`
}

// Terminal escapes what String escapes, except the backslash, so that text
// already escaped passes through unchanged. It is the last guard for a
// whole message assembled from many parts, such as an error line.
func Terminal(s string) string { return escape(s, mode{}) }

type mode struct {
	backslash bool // double backslashes
	keepLines bool // keep \n and \t
	quote     bool // write " as \"
	max       int  // characters of output; 0: no limit
}

func escape(s string, m mode) string {
	var b strings.Builder
	n := 0          // characters written
	prev := rune(0) // the last character written as it is, 0 after an escape
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case m.keepLines && (r == '\n' || r == '\t'):
			piece = s[i : i+size]
		case m.backslash && r == '\\':
			piece = `\\`
		case m.quote && r == '"':
			piece = `\"`
		case r < 0x80 && unicode.IsControl(r):
			piece = fmt.Sprintf(`\x%02x`, r)
		case hidden(r) || (unicode.Is(unicode.Variation_Selector, r) && !selects(prev)):
			piece = fmt.Sprintf(`\u{%04x}`, r)
		default:
			piece = s[i : i+size]
		}
		if m.max > 0 && n+utf8.RuneCountInString(piece) > m.max {
			b.WriteString("…")
			break
		}
		b.WriteString(piece)
		n += utf8.RuneCountInString(piece)
		if piece == s[i:i+size] {
			prev = r
		} else {
			prev = 0
		}
		i += size
	}
	return b.String()
}

// hidden reports the characters that are always escaped.
func hidden(r rune) bool {
	return unicode.IsControl(r) ||
		unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point)
}

// selects reports whether a variation selector after r is shown as it is.
func selects(r rune) bool {
	switch {
	case r == 0 || unicode.Is(unicode.Variation_Selector, r):
		return false
	case r < 0x80:
		return r >= '0' && r <= '9' || r == '#' || r == '*'
	}
	return true
}
