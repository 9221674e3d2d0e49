//go:build !js

package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/nat"
)

// iceSide is our ICE agent and the identity its QUIC session proves,
// once prepareICE set them up.
type iceSide struct {
	agent *nat.Agent
	id    *nat.Identity
	local chan nat.Signal // our trickled ICE candidates, until sent
}

func (s *iceSide) ready() bool { return s.agent != nil }

func (s *iceSide) fingerprint() []byte { return s.id.Fingerprint() }

func (s *iceSide) close() {
	if s.agent != nil {
		s.agent.Close()
	}
}

func (l *Link) prepareICE(relayOnly bool) (*ICEParams, error) {
	cfg := l.opts.NAT
	cfg.RelayOnly = relayOnly
	if l.opts.Transport == TransportICE {
		cfg.TURN = nil // host and server-reflexive pairs: --transport relay is the relay
	}
	cfg.Logger = l.log
	agent, err := nat.NewAgent(cfg)
	if err != nil {
		return nil, fmt.Errorf("set up ICE: %w", err)
	}
	id, err := nat.NewIdentity()
	if err != nil {
		agent.Close()
		return nil, fmt.Errorf("set up ICE: %w", err)
	}
	l.ice = iceSide{agent: agent, id: id, local: make(chan nat.Signal, maxQueuedCandidates)}
	err = agent.Gather(func(s nat.Signal) {
		select {
		case l.ice.local <- s:
		default: // more candidates than the peer will take anyway
		}
	})
	if err != nil {
		return nil, fmt.Errorf("gather ICE candidates: %w", err)
	}
	creds := <-l.ice.local // Gather emits the credentials first, synchronously
	return &ICEParams{Ufrag: creds.Ufrag, Pwd: creds.Pwd}, nil
}

func (l *Link) connectICE(ctx context.Context, ch *Channel, role transit.Role, peer Transports) attempt {
	fp, err := hex.DecodeString(peer.Fingerprint)
	if err != nil || len(fp) == 0 {
		return attempt{err: errors.New("ice: the other side sent no usable certificate fingerprint")}
	}
	if err := l.ice.agent.Apply(nat.Signal{Ufrag: peer.ICE.Ufrag, Pwd: peer.ICE.Pwd}); err != nil {
		return attempt{err: fmt.Errorf("ice: %w", err)}
	}
	go func() { // trickle ours out
		for {
			select {
			case s := <-l.ice.local:
				if ch.Send(ctx, Envelope{Ferry: &Ferry{ICE: &s}}) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // and theirs in
		for {
			select {
			case s := <-ch.Candidates():
				if err := l.ice.agent.Apply(s); err != nil {
					l.log.Debug("link: refusing peer candidate", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	pc, err := l.ice.agent.Connect(ctx, role == transit.Sender)
	if err != nil {
		return attempt{err: fmt.Errorf("ice: %w", err)}
	}
	var st *nat.Stream
	if role == transit.Sender {
		st, err = nat.Dial(ctx, pc, l.ice.id, fp)
	} else {
		st, err = nat.Accept(ctx, pc, l.ice.id, fp)
	}
	if err != nil {
		return attempt{err: fmt.Errorf("ice: quic: %w", err)}
	}
	local, remote := l.ice.agent.SelectedPair()
	// On a host or server-reflexive local candidate QUIC drives the UDP
	// socket itself (batched I/O, GSO); through TURN it goes via ICE.
	l.log.Debug("link: ice quic session", "local", local, "remote", remote, "on_socket", st.OnSocket())
	path := "ice " + string(local)
	switch {
	case local == nat.Relay || remote == nat.Relay:
		path = pathICERelay
	case local != remote:
		path = fmt.Sprintf("ice %s/%s", local, remote)
	}
	return attempt{conn: newConn(st, path)}
}
