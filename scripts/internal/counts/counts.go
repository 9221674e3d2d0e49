// Package counts is what the load scripts (scripts/relayflood,
// scripts/relayload) share: a count of outcomes by what they were.
package counts

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Tally counts what happened, by what; safe for concurrent use.
type Tally struct {
	mu sync.Mutex
	m  map[string]int
}

// Add counts one more of what.
func (t *Tally) Add(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[what]++
}

// String lists the counts, one a line, sorted by what.
func (t *Tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %6d × %s\n", t.m[k], k)
	}
	return b.String()
}
