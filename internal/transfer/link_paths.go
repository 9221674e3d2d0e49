//go:build !js

package transfer

// linkPaths are the kinds of path a side tries.
type linkPaths struct{ tcp, ice, webrtc, relay bool }

// pathsFor maps --transport to the paths a CLI tries: auto races all of
// them; tcp, ice and webrtc force one; relay is TURN (with QUIC) and the
// transit relay.
func pathsFor(transport string) (linkPaths, error) {
	switch transport {
	case TransportTCP:
		return linkPaths{tcp: true}, nil
	case TransportICE:
		return linkPaths{ice: true}, nil
	case TransportRelay:
		return linkPaths{ice: true, relay: true}, nil
	case TransportWebRTC:
		return linkPaths{webrtc: true}, nil
	}
	return linkPaths{tcp: true, ice: true, webrtc: true, relay: true}, nil
}
