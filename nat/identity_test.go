package nat

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	if len(a.Fingerprint()) != FingerprintLen {
		t.Fatalf("fingerprint is %d bytes", len(a.Fingerprint()))
	}
	if bytes.Equal(a.Fingerprint(), b.Fingerprint()) {
		t.Fatal("two identities share a fingerprint")
	}
	fp := a.Fingerprint()
	fp[0] ^= 0xff
	if bytes.Equal(fp, a.Fingerprint()) {
		t.Fatal("Fingerprint returned the identity's own array")
	}
}

// pinResult runs Dial and Accept over a fresh loopback ICE pair, with the
// fingerprints each side expects chosen by expect, and reports both errors
// and how long the slower side took.
func pinResult(t *testing.T, expect func(dialer, acceptor *Identity) (dialerWants, acceptorWants []byte)) (dialErr, acceptErr error, took time.Duration) {
	t.Helper()
	_, _, pcA, pcB := loopbackPair(t)
	dialer, acceptor := newIdentity(t), newIdentity(t)
	dw, aw := expect(dialer, acceptor)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		s, err := Accept(ctx, pcB, acceptor, aw)
		if s != nil {
			t.Cleanup(s.Abort)
		}
		done <- err
	}()
	s, dialErr := Dial(ctx, pcA, dialer, dw)
	if s != nil {
		t.Cleanup(s.Abort)
	}
	acceptErr = <-done
	return dialErr, acceptErr, time.Since(start)
}

func TestPinningAcceptsRightFingerprints(t *testing.T) {
	dialErr, acceptErr, _ := pinResult(t, func(d, a *Identity) ([]byte, []byte) {
		return a.Fingerprint(), d.Fingerprint()
	})
	if dialErr != nil || acceptErr != nil {
		t.Fatalf("Dial: %v, Accept: %v", dialErr, acceptErr)
	}
}

func TestPinningRejectsWrongServer(t *testing.T) {
	dialErr, acceptErr, took := pinResult(t, func(d, _ *Identity) ([]byte, []byte) {
		return newIdentity(t).Fingerprint(), d.Fingerprint() // the dialer expects someone else
	})
	if dialErr == nil || acceptErr == nil {
		t.Fatalf("Dial: %v, Accept: %v; want both to fail", dialErr, acceptErr)
	}
	if !errors.Is(dialErr, ErrFingerprint) {
		t.Errorf("Dial error %q does not wrap ErrFingerprint", dialErr)
	}
	if took > 5*time.Second {
		t.Errorf("failing took %v; Accept should notice the failed handshake at once", took)
	}
	t.Logf("Dial: %v; Accept: %v", dialErr, acceptErr)
}

func TestPinningRejectsWrongClient(t *testing.T) {
	dialErr, acceptErr, took := pinResult(t, func(_, a *Identity) ([]byte, []byte) {
		return a.Fingerprint(), newIdentity(t).Fingerprint() // the acceptor expects someone else
	})
	if dialErr == nil || acceptErr == nil {
		t.Fatalf("Dial: %v, Accept: %v; want both to fail", dialErr, acceptErr)
	}
	if !errors.Is(acceptErr, ErrFingerprint) {
		t.Errorf("Accept error %q does not wrap ErrFingerprint", acceptErr)
	}
	if took > 5*time.Second {
		t.Errorf("failing took %v", took)
	}
	t.Logf("Dial: %v; Accept: %v", dialErr, acceptErr)
}

func TestPinningRejectsBadFingerprintLength(t *testing.T) {
	_, _, pcA, pcB := loopbackPair(t)
	id := newIdentity(t)
	ctx := testContext(t, 5*time.Second)
	if _, err := Dial(ctx, pcA, id, id.Fingerprint()[:16]); err == nil {
		t.Error("Dial accepted a 16-byte fingerprint")
	}
	if _, err := Accept(ctx, pcB, id, nil); err == nil {
		t.Error("Accept accepted an empty fingerprint")
	}
}

func TestPinnedCallback(t *testing.T) {
	id := newIdentity(t)
	der := id.cert.Certificate[0]
	check := pinned(id.Fingerprint())
	if err := check([][]byte{der}, nil); err != nil {
		t.Fatalf("own certificate refused: %v", err)
	}
	other := newIdentity(t).cert.Certificate[0]
	for name, certs := range map[string][][]byte{
		"other":    {other},
		"none":     nil,
		"two":      {der, der},
		"appended": {other, der},
		"tampered": {append(bytes.Clone(der[:len(der)-1]), der[len(der)-1]^1)},
	} {
		if err := check(certs, nil); !errors.Is(err, ErrFingerprint) {
			t.Errorf("%s: got %v, want ErrFingerprint", name, err)
		}
	}
}
