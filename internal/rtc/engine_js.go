//go:build js

package rtc

import (
	"log/slog"

	"github.com/pion/webrtc/v4"
)

// newAPI is the browser's engine: it checks the DTLS certificate against
// the signalled fingerprint itself, and takes no settings.
func newAPI(Options, *slog.Logger) (*webrtc.API, error) { return webrtc.NewAPI(), nil }

// prepareChannel makes binary messages arrive as ArrayBuffers: a Blob
// would be read asynchronously, and messages could overtake each other.
func prepareChannel(dc *webrtc.DataChannel) { dc.JSValue().Set("binaryType", "arraybuffer") }

// selectedPair is unknown in the browser (not every browser has
// RTCIceTransport.getSelectedCandidatePair).
func selectedPair(*webrtc.PeerConnection) string { return "" }

// peerMaxMessage is the browser's RTCSctpTransport.maxMessageSize, the
// largest message it lets us send.
func peerMaxMessage(pc *webrtc.PeerConnection) int {
	sctp := pc.JSValue().Get("sctp")
	if sctp.IsNull() || sctp.IsUndefined() {
		return DefaultMessage
	}
	if m := sctp.Get("maxMessageSize"); !m.IsUndefined() && !m.IsNull() && m.Float() >= 1 {
		return int(min(m.Float(), MaxMessage))
	}
	return DefaultMessage
}
