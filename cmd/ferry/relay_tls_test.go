package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// lockedBuffer is a bytes.Buffer the relay writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestRelayTLS: with --tls-cert and --tls-key, ferry relay serves its
// mailbox as WSS and its page as HTTPS, and the welcome announces the
// page at its https address.
func TestRelayTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, t.TempDir())
	var stderr lockedBuffer
	c := newCLI(strings.NewReader(""), io.Discard, &stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- c.run(ctx, []string{"relay", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile})
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d:\n%s", code, stderr.String())
		}
	}()
	re := regexp.MustCompile(`relay listening on wss://(\S+)/v1`)
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("relay did not listen on wss:\n%s", stderr.String())
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(string(body), "<html") {
		t.Errorf("GET https://%s/ = %d, CSP %q", addr, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/v1", &websocket.DialOptions{HTTPClient: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, msg, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var welcome struct {
		Welcome map[string]string `json:"welcome"`
	}
	json.Unmarshal(msg, &welcome)
	if got := welcome.Welcome["ferry_page"]; got != "https://"+addr+"/" && strings.Contains(stderr.String(), "web page on") {
		t.Errorf("welcome's ferry_page = %q, want https://%s/", got, addr)
	}
	if _, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr); err != nil {
		t.Fatal(err)
	}
	// plain HTTP on the TLS port is refused
	if resp, err := http.Get("http://" + addr + "/"); err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		t.Error("plain HTTP served on the TLS listener")
	}
}

func TestRelayTLSFlags(t *testing.T) {
	for _, args := range [][]string{{"--tls-cert", "x.pem"}, {"--tls-key", "x.pem"}} {
		var stderr bytes.Buffer
		c := newCLI(strings.NewReader(""), io.Discard, &stderr)
		if code := c.run(context.Background(), append([]string{"relay", "--listen", "127.0.0.1:0"}, args...)); code != exitUsage ||
			!strings.Contains(stderr.String(), "--tls-cert and --tls-key go together") {
			t.Errorf("relay %v = %d, %q", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	c := newCLI(strings.NewReader(""), io.Discard, &stderr)
	if code := c.run(context.Background(), []string{"relay", "--listen", "127.0.0.1:0", "--web-url", "javascript:alert(1)"}); code != exitUsage {
		t.Errorf("a javascript: --web-url was accepted: %d %q", code, stderr.String())
	}
}
