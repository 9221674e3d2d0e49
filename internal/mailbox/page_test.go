package mailbox

import (
	"strings"
	"testing"
)

func TestPageURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://drop.example/":        "https://drop.example/",
		"http://127.0.0.1:4000":        "http://127.0.0.1:4000/",
		"https://drop.example/ferry/":  "https://drop.example/ferry/",
		"javascript:alert(1)":          "",
		"https://drop.example/?x=1":    "",
		"https://drop.example/#7-a-b":  "",
		"http://0?":                    "",
		"https://user@drop.example/":   "",
		"https://drop.example/\x1b[2J": "",
		"https://drop.example/\u202e":  "",
		"ftp://drop.example/":          "",
		"//drop.example/":              "",
		"":                             "",
	} {
		if got := PageURL(in); got != want {
			t.Errorf("PageURL(%q) = %q, want %q", in, got, want)
		}
	}
	w, err := parseWelcome([]byte(`{"motd":"hi","ferry_page":"javascript:alert(1)"}`))
	if err != nil || w.Page != "" || w.MOTD != "hi" {
		t.Errorf("welcome with a bad page = %+v, %v", w, err)
	}
}

// FuzzPageURL: what PageURL accepts is a printable http or https URL
// within the cap, and accepting is idempotent.
func FuzzPageURL(f *testing.F) {
	for _, s := range []string{"https://drop.example/", "http://127.0.0.1:4000", "javascript:alert(1)", "https://a/#x", "https://u@a/", "https://a/\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := PageURL(s)
		if got == "" {
			return
		}
		if len(got) > MaxPageURL+1 || !(strings.HasPrefix(got, "http://") || strings.HasPrefix(got, "https://")) || strings.ContainsAny(got, "#? \x7f") {
			t.Fatalf("PageURL(%q) = %q", s, got)
		}
		if again := PageURL(got); again != got {
			t.Fatalf("PageURL(PageURL(%q)) = %q, not %q", s, again, got)
		}
	})
}
