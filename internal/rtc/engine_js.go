//go:build js

package rtc

import (
	"context"
	"errors"
	"log/slog"
	"syscall/js"

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

// pairStatsOf reads the selected candidate pair's counters from the
// browser's RTCPeerConnection.getStats (see liveness.go): the pair the
// transport names (selectedCandidatePairId), or the one flagged selected
// (Firefox). A browser without requestsSent and responsesReceived gives
// none.
func pairStatsOf(pc *webrtc.PeerConnection) func(context.Context) (pairStats, bool) {
	jpc := pc.JSValue()
	if jpc.Get("getStats").Type() != js.TypeFunction {
		return nil
	}
	return func(ctx context.Context) (pairStats, bool) {
		report, err := await(ctx, jpc.Call("getStats"))
		if err != nil || report.Type() != js.TypeObject || report.Get("values").Type() != js.TypeFunction {
			return pairStats{}, false
		}
		var selected, flagged string
		pairs := map[string]js.Value{}
		it := report.Call("values")
		for n := 0; n < maxStats; n++ {
			next := it.Call("next")
			if next.Get("done").Truthy() {
				break
			}
			st := next.Get("value")
			switch st.Get("type").String() {
			case "transport":
				if id := st.Get("selectedCandidatePairId"); id.Type() == js.TypeString {
					selected = id.String()
				}
			case "candidate-pair":
				id := st.Get("id").String()
				pairs[id] = st
				if st.Get("selected").Truthy() {
					flagged = id
				}
			}
		}
		if selected == "" {
			selected = flagged
		}
		p, ok := pairs[selected]
		if !ok {
			return pairStats{}, false
		}
		sent, ok1 := counter(p, "requestsSent") // every check, consent ones too
		if !ok1 {
			sent, ok1 = counter(p, "consentRequestsSent")
		}
		answered, ok2 := counter(p, "responsesReceived")
		if !ok1 || !ok2 {
			return pairStats{}, false
		}
		bytes, _ := counter(p, "bytesReceived")
		theirs, _ := counter(p, "requestsReceived")
		return pairStats{pair: selected, requestsSent: sent, responsesReceived: answered, received: bytes + theirs}, true
	}
}

// maxStats bounds the statistics looked at in one report.
const maxStats = 1000

// counter is the number st[name], if it is one.
func counter(st js.Value, name string) (uint64, bool) {
	v := st.Get(name)
	if v.Type() != js.TypeNumber || v.Float() < 0 {
		return 0, false
	}
	return uint64(v.Float()), true
}

// await waits for a JavaScript promise.
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		then.Release()
		catch.Release()
		return nil
	})
	catch = js.FuncOf(func(js.Value, []js.Value) any {
		done <- result{err: errors.New("rtc: getStats failed")}
		then.Release()
		catch.Release()
		return nil
	})
	p.Call("then", then, catch)
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err() // the functions release themselves when it settles
	}
}
