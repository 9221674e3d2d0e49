// Package classic holds the wire formats of Magic Wormhole's classic file
// transfer (file-transfer-protocol.rst and the transit spec): the transit,
// offer and answer messages carried in numbered phases, the transit
// record layer, and the connection set-up both sides run with a classic
// peer (the Python client, wormhole-william, phone apps).
package classic

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
)

// TransitKeyPurpose derives the classic transit key from the PAKE key.
// Every client uses the file-transfer appid here, whatever appid it runs
// under (magic-wormhole "BUG339").
const TransitKeyPurpose = "lothar.com/wormhole/text-or-file-xfer/transit-key"

// Hint and ability types.
const (
	DirectTCP = "direct-tcp-v1"
	RelayV1   = "relay-v1"
)

// Caps on the peer's transit message.
const (
	MaxPeerHints  = transit.MaxHints // direct hints we dial
	MaxPeerRelays = 4                // relay endpoints of the peer we dial
)

// Transit is the {"transit": …} message both sides send.
type Transit struct {
	Abilities []Ability `json:"abilities-v1"`
	Hints     []Hint    `json:"hints-v1"`
}

// Ability is one entry of abilities-v1.
type Ability struct {
	Type string `json:"type"`
}

// Hint is one entry of hints-v1: a direct-tcp-v1 address or a relay-v1
// list of addresses. Other types (tor-tcp-v1, websocket relays) are kept
// out by Parse.
type Hint struct {
	Type     string  `json:"type"`
	Hostname string  `json:"hostname,omitempty"`
	Port     int     `json:"port,omitempty"`
	Priority float64 `json:"priority"`
	Hints    []Hint  `json:"hints,omitempty"` // relay-v1 only
}

// ParseTransit decodes a peer's transit message and returns its direct
// hints and relay endpoints, only direct-tcp-v1 ones, capped (filtering
// of the addresses themselves is transit.FilterHints' job).
func ParseTransit(raw json.RawMessage) (direct, relays []transit.Hint, err error) {
	var t Transit
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, nil, fmt.Errorf("read the other side's transit hints: %w", err)
	}
	for _, h := range t.Hints {
		switch h.Type {
		case DirectTCP:
			if len(direct) < 4*MaxPeerHints {
				direct = append(direct, tcpHint(h))
			}
		case RelayV1:
			for _, r := range h.Hints {
				if r.Type == DirectTCP && len(relays) < 4*MaxPeerRelays {
					relays = append(relays, tcpHint(r))
				}
			}
		}
	}
	return direct, relays, nil
}

func tcpHint(h Hint) transit.Hint {
	return transit.Hint{Type: DirectTCP, Hostname: h.Hostname, Port: h.Port, Priority: h.Priority}
}

// FileOffer is the body of {"offer":{"file":…}}.
type FileOffer struct {
	Filename string `json:"filename"`
	Filesize int64  `json:"filesize"`
}

// ZipMode is the only directory mode there is.
const ZipMode = "zipfile/deflated"

// DirectoryOffer is the body of {"offer":{"directory":…}}: a folder sent
// as one zip file of zipsize bytes holding numfiles files of numbytes
// bytes in all.
type DirectoryOffer struct {
	Mode     string `json:"mode"`
	Dirname  string `json:"dirname"`
	Zipsize  int64  `json:"zipsize"`
	Numbytes int64  `json:"numbytes"`
	Numfiles int64  `json:"numfiles"`
}

// Check validates a directory offer's numbers and mode.
func (d DirectoryOffer) Check() error {
	if d.Mode != ZipMode {
		return fmt.Errorf("unknown folder mode \"%s\"", transfer.Escape(d.Mode))
	}
	if d.Zipsize < 0 || d.Numbytes < 0 || d.Numfiles < 0 {
		return errors.New("the folder offer declares negative sizes")
	}
	if d.Numfiles > transfer.MaxFiles || d.Numbytes > 1<<62 {
		return fmt.Errorf("the folder offer declares %d files of %d bytes", d.Numfiles, d.Numbytes)
	}
	if max := MaxZipSize(d.Numbytes, d.Numfiles); d.Zipsize > max {
		return fmt.Errorf("the folder offer declares a zip of %d bytes for %d bytes of files (numfiles %d; at most %d)", d.Zipsize, d.Numbytes, d.Numfiles, max)
	}
	return nil
}

// Ack is the receiver's last record over transit.
type Ack struct {
	Ack    string `json:"ack"`
	SHA256 string `json:"sha256,omitempty"`
}
