//go:build !race

package receive_test

// raceEnabled reports a -race build, where big transfers are slow.
const raceEnabled = false
