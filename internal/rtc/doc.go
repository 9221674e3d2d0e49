// Package rtc opens one WebRTC data channel between two ferry peers and
// serves it as a byte stream (io.ReadWriteCloser). It is the same code
// natively (pion's own ICE, DTLS and SCTP) and in the browser
// (GOOS=js GOARCH=wasm: pion wraps the browser's RTCPeerConnection), so it
// uses only the data-channel API both builds have: OnOpen, OnMessage,
// Send, SendText, BufferedAmount, SetBufferedAmountLowThreshold,
// OnBufferedAmountLow, OnClose and Close (no detached channels).
//
// # Signalling and the DTLS pin
//
// The SDP offer and answer and the trickled ICE candidates are Signals the
// caller carries over a channel that is already authenticated and
// encrypted (ferry's PAKE-keyed mailbox phases). The SDP carries each
// side's DTLS certificate fingerprint, and pion (or the browser) refuses
// a DTLS peer whose certificate does not match it: so the DTLS session is
// pinned through the PAKE, and no one but the holder of the code can sit
// in the middle. This package builds its pion API itself and never offers
// a way to turn that check off.
//
// Signals from the peer are untrusted input all the same: an SDP is
// capped at MaxSDP bytes, candidates at natconf.MaxCandidateLen, and at most
// natconf.MaxRemoteCandidates distinct candidate addresses are taken, each an
// IP literal (or an mDNS .local name) that natconf.RemoteIPAllowed admits;
// natively pion's remote IP filter applies the same policy, with a budget
// of natconf.MaxRemoteAddresses, to the peer-reflexive addresses checks reveal.
//
// # Flow control
//
// A data channel has no read-side back-pressure that survives the browser:
// the page gets every message as an event, whether or not it can take it,
// and so would have to buffer whatever the peer sends. The stream
// therefore runs a credit window of its own, like HTTP/2's: binary
// messages carry stream bytes, text messages carry control, "w N" (the
// reader grants N more bytes) and "eof" (the writer is done). Each side
// grants Window bytes when the channel opens and grants again what its
// reader has consumed, once that is a quarter of the window. A writer
// never sends beyond its credit, so an honest peer never makes us queue
// more than Window bytes; a peer that does anyway, or sends data after
// "eof", or a malformed control message, ends the connection with
// ErrProtocol. The receive queue is thus bounded by Window whatever the
// peer does.
//
// On the sending side, Write also waits while the channel's BufferedAmount
// (bytes handed to SCTP or the browser and not yet sent or acknowledged)
// is at HighWater or above, and resumes on OnBufferedAmountLow (threshold
// HighWater/2): what we buffer for a slow path stays below HighWater plus
// one message. Messages carry at most the peer's advertised
// max-message-size, and never more than MaxMessage (256 KiB: Chromium and
// Safari advertise that much, Firefox 1 GiB, ferry MaxReceiveMessage);
// toward a peer that advertises none, DefaultMessage (64 KiB, RFC 8841).
// Fewer, larger messages cost the page less per byte (each message is an
// event and a copy into the program). Natively we accept messages up to
// MaxReceiveMessage (pion's default would let a peer make us assemble
// messages of 1 GiB).
//
// Close sends "eof", waits (at most CloseDrain) until BufferedAmount is
// zero, so that what was written reached the peer, and then closes the
// connection; Abort ends it at once.
//
// # A peer that went away
//
// A peer whose program dies says nothing, and a browser takes 15 s or
// more to call the connection failed. In the browser a Conn therefore
// reads the selected candidate pair's statistics and fails with
// ErrPeerSilent once its ICE consent checks have gone unanswered for
// SilentAfter with nothing else arriving (liveness.go). Natively pion's
// own ICE timeouts apply, as before.
package rtc
