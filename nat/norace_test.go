//go:build !race

package nat

// raceEnabled reports a -race build, where big transfers are too slow.
const raceEnabled = false
