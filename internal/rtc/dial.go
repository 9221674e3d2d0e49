package rtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Role says which side makes the SDP offer.
type Role int

// The two roles.
const (
	Offerer Role = iota
	Answerer
)

// Label is the data channel's label. The channel is negotiated (both
// sides create it with ID 0), so no in-band DCEP open is needed.
const Label = "ferry"

// maxQueuedSignals caps our candidates waiting to be sent.
const maxQueuedSignals = 64

// Options configure Dial.
type Options struct {
	// Config holds the ICE servers (STUN, and TURN with credentials) and
	// the transport policy (webrtc.ICETransportPolicyRelay: TURN only).
	Config webrtc.Configuration
	Role   Role
	// Send carries a Signal to the peer over the authenticated channel;
	// Recv brings the peer's, in the order it sent them.
	Send func(context.Context, Signal) error
	Recv <-chan Signal
	// LoopbackOnly accepts only loopback candidates from the peer, and
	// natively gathers only loopback ones (tests, two peers on one
	// machine); without it the peer's loopback candidates are refused, in
	// the browser too. MDNS hides local addresses behind .local names and
	// resolves the peer's; Net is the network (nil: the real one; tests
	// pass a vnet). Those two apply natively only: the browser decides.
	LoopbackOnly bool
	MDNS         bool
	Net          transport.Net
	Logger       *slog.Logger
}

// Dial sets up the peer connection, exchanges the offer, the answer and
// candidates through opts.Send and opts.Recv, and returns once the data
// channel is open. Signalling goes on in the background (late
// candidates) until ctx ends, so ctx should end once the caller is done
// connecting. On error everything is closed.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api, err := newAPI(opts, log)
	if err != nil {
		return nil, fmt.Errorf("rtc: %w", err)
	}
	pc, err := api.NewPeerConnection(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("rtc: %w", err)
	}
	c := newConn(pc, log)
	ok := false
	defer func() {
		if !ok {
			c.Abort()
			bye(ctx, opts.Send)
		}
	}()
	negotiated, id := true, uint16(0)
	dc, err := pc.CreateDataChannel(Label, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return nil, fmt.Errorf("rtc: create data channel: %w", err)
	}
	prepareChannel(dc)
	c.attach(dc)
	pc.OnDataChannel(func(d *webrtc.DataChannel) { _ = d.Close() }) // only ours
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("rtc: state", "state", s.String())
		// pion closes the connection itself when DTLS fails (the peer's
		// alert), without passing through "failed"; our own Close and
		// Abort have set c's error first.
		switch s {
		case webrtc.PeerConnectionStateFailed:
			c.fail(errors.New("rtc: the connection failed"))
		case webrtc.PeerConnectionStateClosed:
			c.fail(errors.New("rtc: the connection closed"))
		}
	})
	local := make(chan Signal, maxQueuedSignals)
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		s := Signal{Done: true}
		if ic != nil {
			init := ic.ToJSON()
			if init.Candidate == "candidate:" || init.Candidate == "" {
				return
			}
			log.Debug("rtc: local candidate", "candidate", init.Candidate)
			s = Signal{Candidates: []string{init.Candidate}}
		}
		select {
		case local <- s:
		default: // more than the peer will take
		}
	})
	v := newVetter(opts.LoopbackOnly)
	if err := describe(ctx, pc, opts, v); err != nil {
		return nil, err
	}
	go trickleOut(ctx, opts.Send, local)
	go trickleIn(ctx, c, opts.Recv, v)
	select {
	case <-c.opened:
	case <-c.dead:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, fmt.Errorf("rtc: %w", ctx.Err())
	}
	c.path = selectedPair(pc)
	log.Debug("rtc: open", "pair", c.path)
	ok = true
	go c.watch(pairStatsOf(pc))
	return c, nil
}

// describe runs the offer and answer exchange.
func describe(ctx context.Context, pc *webrtc.PeerConnection, opts Options, v *vetter) error {
	if opts.Role == Offerer {
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			return fmt.Errorf("rtc: create offer: %w", err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			return fmt.Errorf("rtc: set offer: %w", err)
		}
		if err := opts.Send(ctx, Signal{Type: TypeOffer, SDP: offer.SDP}); err != nil {
			return err
		}
		return remote(ctx, pc, opts.Recv, v, webrtc.SDPTypeAnswer)
	}
	if err := remote(ctx, pc, opts.Recv, v, webrtc.SDPTypeOffer); err != nil {
		return err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("rtc: create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("rtc: set answer: %w", err)
	}
	return opts.Send(ctx, Signal{Type: TypeAnswer, SDP: answer.SDP})
}

// remote waits for the peer's description, which must come first.
func remote(ctx context.Context, pc *webrtc.PeerConnection, recv <-chan Signal, v *vetter, want webrtc.SDPType) error {
	var s Signal
	select {
	case s = <-recv:
	case <-ctx.Done():
		return fmt.Errorf("rtc: waiting for the %s: %w", want, ctx.Err())
	}
	if s.Type == TypeBye {
		return ErrPeerFailed
	}
	if s.Type != want.String() {
		return fmt.Errorf("%w: expected the %s first", ErrBadSignal, want)
	}
	if err := v.checkSDP(s.SDP); err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: want, SDP: s.SDP}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignal, err)
	}
	return nil
}

// trickleOut sends our candidates as they are found.
func trickleOut(ctx context.Context, send func(context.Context, Signal) error, local <-chan Signal) {
	for {
		select {
		case s := <-local:
			if send(ctx, s) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// bye tells the peer, if there is still time, that we gave up.
func bye(ctx context.Context, send func(context.Context, Signal) error) {
	if ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, byeWait)
	defer cancel()
	_ = send(ctx, Signal{Type: TypeBye})
}

// byeWait bounds how long a failed Dial tries to say so.
const byeWait = time.Second

// trickleIn applies the peer's candidates; one that fails the vetting is
// refused, and the others still count. The peer's "bye" ends c.
func trickleIn(ctx context.Context, c *Conn, recv <-chan Signal, v *vetter) {
	pc, log := c.pc, c.log
	zero := uint16(0)
	for {
		var s Signal
		select {
		case s = <-recv:
		case <-ctx.Done():
			return
		}
		if s.Type == TypeBye {
			c.fail(ErrPeerFailed)
			return
		}
		if s.Type != "" || s.Done {
			continue
		}
		for _, raw := range s.Candidates[:min(len(s.Candidates), maxQueuedSignals)] {
			use, err := v.check(raw)
			if err != nil {
				log.Debug("rtc: refusing peer candidate", "err", err)
				continue
			}
			if !use {
				continue
			}
			if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: raw, SDPMLineIndex: &zero}); err != nil {
				log.Debug("rtc: refusing peer candidate", "err", err)
			}
		}
	}
}
