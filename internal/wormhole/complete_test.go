package wormhole

import (
	"slices"
	"testing"
)

func TestComplete(t *testing.T) {
	for _, c := range []struct {
		prefix string
		words  int
		want   []string
	}{
		{"7-guitar", 2, []string{"7-guitarist-"}},               // an odd-list word first
		{"7-guitarist-rev", 2, []string{"7-guitarist-revenge"}}, // then an even one, the last
		{"7-guitarist-revenge-", 2, nil},                        // no third word
		{"7-revenge", 2, nil},                                   // revenge is an even-list word
		{"7-adroit", 3, []string{"7-adroitness-"}},
		{"7-adroitness-aard", 3, []string{"7-adroitness-aardvark-"}},
		{"7-", 2, nil}, // checked below: every odd word
		{"x-a", 2, nil},
		{"7", 2, nil},
	} {
		got := Complete(c.prefix, c.words, 0)
		if c.prefix == "7-" {
			if len(got) != 256 {
				t.Errorf("Complete(%q) gave %d words, want 256", c.prefix, len(got))
			}
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Complete(%q, %d) = %q, want %q", c.prefix, c.words, got, c.want)
		}
	}
	if got := Complete("7-", 2, 5); len(got) != 5 {
		t.Errorf("max 5 gave %d", len(got))
	}
}
