package mailbox

import "testing"

func TestPageURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://drop.example/":        "https://drop.example/",
		"http://127.0.0.1:4000":        "http://127.0.0.1:4000/",
		"https://drop.example/ferry/":  "https://drop.example/ferry/",
		"javascript:alert(1)":          "",
		"https://drop.example/?x=1":    "",
		"https://drop.example/#7-a-b":  "",
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
