//go:build !race

package send

// raceEnabled reports a -race build, where streaming gigabytes is slow.
const raceEnabled = false
