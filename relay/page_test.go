package relay

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPage: with an Other handler, every path but /v1 is its, and with a
// Page the welcome tells ferry clients where the page is: on the server
// as the client reached it, or at an absolute URL. Without, no key and
// 404s.
func TestPage(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page at "+r.URL.Path) })
	_, url := startServer(t, Config{Other: page, Page: "/"})
	httpURL := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/v1")
	_, w := dial(t, url)
	if got := w["welcome"].(map[string]any)["ferry_page"]; got != httpURL+"/" {
		t.Errorf("welcome's ferry_page = %v, want %s/", got, httpURL)
	}
	resp, err := http.Get(httpURL + "/app.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "page at /app.js" {
		t.Errorf("GET /app.js = %q, want the page handler's", body)
	}

	_, url = startServer(t, Config{Other: page, Page: "https://drop.example/"})
	_, w = dial(t, url)
	if got := w["welcome"].(map[string]any)["ferry_page"]; got != "https://drop.example/" {
		t.Errorf("welcome's ferry_page = %v, want PageURL", got)
	}

	_, url = startServer(t, Config{})
	_, w = dial(t, url)
	if got, ok := w["welcome"].(map[string]any)["ferry_page"]; ok {
		t.Errorf("welcome has ferry_page %v without a page", got)
	}
	resp, err = http.Get("http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/v1") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / without a page = %d, want 404", resp.StatusCode)
	}
}
