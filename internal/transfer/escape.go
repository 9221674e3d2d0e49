package transfer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes a peer-supplied string safe to show on a terminal: control
// characters (ANSI escapes included), bidirectional overrides and invalid
// UTF-8 are written as \xNN or \u{NNNN}. A backslash is doubled so that an
// escaped string cannot be confused with one that was not.
func Escape(s string) string { return escape(s, false) }

// EscapeText is Escape for multi-line text: it keeps newlines and tabs.
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isBidiControl reports the characters that reorder displayed text
// (Trojan Source, CVE-2021-42574).
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
