// Package transfer holds what send and receive share: the classic
// file-transfer messages carried in numbered phases, ferry's version
// announcement, and the session set-up both sides run.
package transfer

import (
	"encoding/json"
	"fmt"
)

// MaxText caps a text message ferry sends or accepts.
const MaxText = 256 << 10

// Envelope is one numbered-phase message of the classic file-transfer
// protocol. Exactly one field is set.
type Envelope struct {
	Offer   *Offer          `json:"offer,omitempty"`
	Answer  *Answer         `json:"answer,omitempty"`
	Error   *string         `json:"error,omitempty"`
	Transit json.RawMessage `json:"transit,omitempty"`
	Ferry   *Ferry          `json:"ferry,omitempty"` // only between two ferry peers
}

// Offer is what the sender proposes.
type Offer struct {
	Message   *string         `json:"message,omitempty"`
	File      json.RawMessage `json:"file,omitempty"`
	Directory json.RawMessage `json:"directory,omitempty"`
}

// Answer is the receiver's reply to an offer.
type Answer struct {
	MessageAck string `json:"message_ack,omitempty"`
	FileAck    string `json:"file_ack,omitempty"`
}

// ParseEnvelope decodes one phase's plaintext.
func ParseEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("read message from the other side: %w", err)
	}
	return e, nil
}

// Versions is ferry's entry in app_versions: the protocol version and the
// transports this build offers. A peer whose version message has no
// "ferry" entry is a classic Magic Wormhole client.
func Versions() map[string]any {
	return map[string]any{
		"ferry": map[string]any{
			"protocol":   1,
			"transports": []string{TransportTCP, TransportICE, TransportWebRTC},
		},
	}
}

// IsFerry reports whether the peer's app_versions announce ferry.
func IsFerry(appVersions map[string]json.RawMessage) bool {
	_, ok := appVersions["ferry"]
	return ok
}
