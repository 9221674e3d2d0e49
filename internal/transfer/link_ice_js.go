//go:build js

package transfer

import (
	"context"
	"errors"

	"github.com/ferrydrop/ferry/internal/transit"
)

// iceSide is empty in a browser: it has no sockets for an ICE agent of
// ours (its ICE is the WebRTC path's), so the page links no ICE or QUIC.
type iceSide struct{}

func (iceSide) ready() bool         { return false }
func (iceSide) fingerprint() []byte { return nil }
func (iceSide) close()              {}

var errNoICE = errors.New("ice: a browser has no sockets for it")

func (l *Link) prepareICE(bool) (*ICEParams, error) { return nil, errNoICE }

func (l *Link) connectICE(context.Context, *Channel, transit.Role, Transports) attempt {
	return attempt{err: errNoICE}
}
