package nat

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// FingerprintLen is the length of a certificate fingerprint (SHA-256).
const FingerprintLen = sha256.Size

// ALPN is the application protocol both peers negotiate in TLS.
const ALPN = "ferry/1"

// ErrFingerprint reports a peer certificate that is not the pinned one.
var ErrFingerprint = errors.New("nat: peer certificate does not match its fingerprint")

// Identity is an ephemeral TLS identity for one session: an Ed25519 key and
// a self-signed certificate. Peers exchange fingerprints over their encrypted
// channel and each pins the other's, so no certificate authority is involved
// and any other certificate fails the handshake.
type Identity struct {
	cert tls.Certificate
	fp   [FingerprintLen]byte
}

// NewIdentity generates a fresh key and certificate.
func NewIdentity() (*Identity, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("nat: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("nat: generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ferry"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("nat: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("nat: parse certificate: %w", err)
	}
	return &Identity{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf},
		fp:   sha256.Sum256(der),
	}, nil
}

// Fingerprint returns the SHA-256 of the certificate (DER), for the peer.
func (id *Identity) Fingerprint() []byte {
	fp := id.fp
	return fp[:]
}

// pinned returns a tls.Config callback that accepts exactly one certificate,
// the one whose fingerprint is want. The TLS handshake proves that the peer
// holds that certificate's private key.
func pinned(want []byte) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) != 1 {
			return fmt.Errorf("%w: got %d certificates", ErrFingerprint, len(rawCerts))
		}
		got := sha256.Sum256(rawCerts[0])
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return ErrFingerprint
		}
		return nil
	}
}

// tlsConfig returns the TLS 1.3 configuration for one side of a session.
// Certificate chains are not verified against any root (there is none):
// verification is the fingerprint pin, on both sides.
func (id *Identity) tlsConfig(server bool, peer []byte, onReject func(error)) *tls.Config {
	check := pinned(peer)
	verify := func(rawCerts [][]byte, chains [][]*x509.Certificate) error {
		err := check(rawCerts, chains)
		if err != nil && onReject != nil {
			onReject(err)
		}
		return err
	}
	conf := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{id.cert},
		NextProtos:             []string{ALPN},
		VerifyPeerCertificate:  verify,
		SessionTicketsDisabled: true, // a resumed session would skip the pin
	}
	if server {
		conf.ClientAuth = tls.RequireAnyClientCert
	} else {
		conf.ServerName = "ferry"
		conf.InsecureSkipVerify = true //nolint:gosec // replaced by the fingerprint pin in VerifyPeerCertificate
	}
	return conf
}

func checkFingerprint(fp []byte) error {
	if len(fp) != FingerprintLen {
		return fmt.Errorf("nat: peer fingerprint is %d bytes, want %d", len(fp), FingerprintLen)
	}
	return nil
}
