package main

import "testing"

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "20000000": 20e6, "100mbit": 100e6, "100M": 100e6, "1.5g": 1.5e9, "64kbit": 64e3} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-5m", "mbit"} {
		if got, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) = %d, want an error", in, got)
		}
	}
}
