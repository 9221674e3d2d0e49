package relay

import mbclient "github.com/ferrydrop/ferry/internal/mailbox"

// PageURL checks a page address for Config.Page (what --web-url gives):
// an absolute http or https URL without user name, query or fragment, of
// at most 1 KiB of printable ASCII, as clients accept it from a welcome.
// It returns the URL with a trailing slash on an empty path, or "" when
// clients would refuse it.
func PageURL(s string) string { return mbclient.PageURL(s) }
