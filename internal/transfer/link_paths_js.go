//go:build js

package transfer

import "fmt"

// linkPaths are the kinds of path a side tries.
type linkPaths struct{ tcp, ice, webrtc, relay bool }

// pathsFor maps --transport to the paths a browser can try: it has no
// sockets, so no TCP listener and no ICE agent of ours; auto is the
// browser's WebRTC and the transit relay (through LinkOptions.DialRelay).
func pathsFor(transport string) (linkPaths, error) {
	switch transport {
	case TransportAuto:
		return linkPaths{webrtc: true, relay: true}, nil
	case TransportRelay:
		return linkPaths{relay: true}, nil
	case TransportWebRTC:
		return linkPaths{webrtc: true}, nil
	}
	return linkPaths{}, fmt.Errorf("transport %s needs sockets, which a browser does not give", transport)
}
