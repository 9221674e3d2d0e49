package transfer

import "github.com/ferrydrop/ferry/escape"

// MaxQuote caps the characters Quote shows of someone else's words.
const MaxQuote = escape.MaxQuote

// Escape makes a peer-supplied string safe to show on a terminal: control
// characters (ANSI escapes included), format and other invisible
// characters (bidirectional overrides, zero-width spaces and joiners, the
// soft hyphen, ...), private-use characters and invalid UTF-8 are written
// as \xNN or \u{NNNN}; package escape lists the set. A backslash is
// doubled so that an escaped string cannot be confused with one that was
// not.
func Escape(s string) string { return escape.String(s) }

// EscapeText is Escape for multi-line text: it keeps newlines and tabs.
func EscapeText(s string) string { return escape.Text(s) }

// Quote marks what a peer or a relay said: escaped, in quotation marks
// (one inside is written \"), and cut after MaxQuote characters with ….
func Quote(s string) string { return escape.Quote(s) }

// isBidiControl reports the characters that reorder displayed text
// (Trojan Source, CVE-2021-42574); CheckName refuses them in names.
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
