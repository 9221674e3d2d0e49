package wormhole

import (
	"slices"
	"strings"

	"github.com/psanford/wormhole-william/wordlist"
)

// Complete returns the ways a partly typed code can go on, as the Python
// client's completion does: once the nameplate is followed by a hyphen,
// each word is completed from the PGP word list (odd-list words in the
// first, third, … places, even-list words in the others), a word that is
// not the last one gaining its hyphen. The nameplate itself is not
// completed (that needs the relay's list). At most max completions come
// back, sorted.
func Complete(prefix string, words, max int) []string {
	nameplate, rest, ok := strings.Cut(prefix, "-")
	if !ok || nameplate == "" || strings.ContainsFunc(nameplate, func(r rune) bool { return r < '0' || r > '9' }) {
		return nil
	}
	done := strings.Split(rest, "-")
	partial := strings.ToLower(done[len(done)-1])
	pos := len(done) - 1 // the index of the word being typed
	if words > 0 && pos >= words {
		return nil
	}
	var out []string
	for b := range 256 {
		pair := wordlist.RawWords[byte(b)]
		w := pair.Odd
		if pos%2 == 1 {
			w = pair.Even
		}
		w = strings.ToLower(w)
		if !strings.HasPrefix(w, partial) {
			continue
		}
		c := prefix[:len(prefix)-len(partial)] + w
		if words == 0 || pos < words-1 {
			c += "-"
		}
		out = append(out, c)
	}
	slices.Sort(out)
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}
