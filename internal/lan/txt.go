// Package lan finds the other side on the local network: ferry send serves
// its own mailbox (the relay package's server, in process) on its LAN
// addresses and advertises it with DNS-SD over multicast DNS; ferry
// receive browses for it. What is advertised is a protocol version, the
// nameplate and a random instance id, never the words of the code or
// anything derived from them: with a 16-bit secret, anything derived from
// it could be brute-forced offline by whoever listens.
package lan

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/mdns/v2"
)

// Service is the DNS-SD service type of a ferry LAN mailbox.
const Service = "_ferry._tcp"

// Version is the protocol version in the TXT record: the mailbox speaks
// the Magic Wormhole mailbox protocol at /v1.
const Version = "1"

// TXT keys.
const (
	keyVersion   = "v"
	keyNameplate = "nameplate"
	keyID        = "id"
)

// idLen is the length of an instance id in hex digits.
const idLen = 16

// maxNameplate is the longest nameplate a mailbox server takes.
const maxNameplate = 40

// Advert is what a LAN mailbox announces in its TXT record.
type Advert struct {
	Version   string // protocol version (Version)
	Nameplate string // the nameplate it serves, digits
	ID        string // random instance id, 16 hex digits
}

// NewID returns a random instance id.
func NewID() string {
	b := make([]byte, idLen/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// instance is the DNS-SD instance name of an advert: the id, nothing else.
func (a Advert) instance() string { return "ferry-" + a.ID }

// TXT returns the advert as TXT record entries.
func (a Advert) TXT() []mdns.TXTEntry {
	return []mdns.TXTEntry{
		mdns.NewTXTString(keyVersion, a.Version),
		mdns.NewTXTString(keyNameplate, a.Nameplate),
		mdns.NewTXTString(keyID, a.ID),
	}
}

// ParseTXT reads an advert from TXT record entries, which come from
// anyone on the network: it accepts only version 1, a nameplate of 1 to
// 40 digits and an id of 16 lower-case hex digits, each exactly once.
// Unknown keys are ignored, as DNS-SD asks.
func ParseTXT(entries []mdns.TXTEntry) (Advert, error) {
	var a Advert
	seen := map[string]bool{}
	for _, e := range entries {
		key := strings.ToLower(e.Key)
		switch key {
		case keyVersion, keyNameplate, keyID:
		default:
			continue
		}
		if seen[key] {
			return Advert{}, fmt.Errorf("TXT key %q appears twice", key)
		}
		seen[key] = true
		if e.Value == nil {
			return Advert{}, fmt.Errorf("TXT key %q has no value", key)
		}
		v := string(e.Value)
		switch key {
		case keyVersion:
			a.Version = v
		case keyNameplate:
			a.Nameplate = v
		case keyID:
			a.ID = v
		}
	}
	switch {
	case a.Version != Version:
		return Advert{}, errors.New("TXT: not protocol version " + Version)
	case !validNameplate(a.Nameplate):
		return Advert{}, errors.New("TXT: the nameplate is not 1 to 40 digits")
	case !validID(a.ID):
		return Advert{}, errors.New("TXT: the id is not 16 hex digits")
	}
	return a, nil
}

func validNameplate(s string) bool {
	if s == "" || len(s) > maxNameplate {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}
