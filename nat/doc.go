// Package nat gives two ferry peers a fast, reliable, authenticated byte
// stream through NATs and firewalls.
//
// The peers already share an encrypted, ordered message channel (through
// the mailbox). Over it they exchange two things, both plain values:
//
//   - ICE signals (Signal: credentials, candidate strings, end of
//     candidates), which let an Agent find a working path: a direct one
//     between host addresses, one through NATs learnt with STUN, or, as a
//     last resort, one relayed by a TURN server;
//   - certificate fingerprints (Identity.Fingerprint), which each side pins
//     for the QUIC session (TLS 1.3 with mutual authentication) that then
//     runs over that path.
//
// Everything from the peer is vetted: candidates are capped in number and
// length, must name IP addresses (no DNS lookups on the peer's behalf), no
// loopback, multicast or unspecified ones, and the agent never sends checks
// to more than MaxRemoteAddresses addresses in all.
//
// A sketch of one side (the other is the same with controlling false and
// Accept instead of Dial; the ICE and QUIC roles are independent, but each
// must differ between the peers):
//
//	agent, err := nat.NewAgent(nat.Config{STUN: defaultSTUN, Logger: log})
//	if err != nil { ... }
//	defer agent.Close()
//	id, err := nat.NewIdentity()
//	if err != nil { ... }
//	send(fingerprintMessage{id.Fingerprint()})
//	err = agent.Gather(func(s nat.Signal) { send(s) }) // trickles
//	go func() { // the peer's messages, as they arrive
//		for m := range receive() {
//			switch m := m.(type) {
//			case nat.Signal:
//				if err := agent.Apply(m); err != nil { abort(err) }
//			case fingerprintMessage:
//				peerFP <- m.Fingerprint
//			}
//		}
//	}()
//	pc, err := agent.Connect(ctx, true) // waits for the peer's credentials
//	if err != nil { ... }
//	local, remote := agent.SelectedPair() // e.g. host and srflx
//	stream, err := nat.Dial(ctx, pc, id, <-peerFP) // owns pc from here
//	if err != nil { ... }
//	_, err = io.Copy(stream, file)
//	err = stream.CloseWrite()
//	verdict, err := io.ReadAll(stream) // the receiver's reply
//	err = stream.Close() // waits for the receiver to Close too
//
// The receiver reads until io.EOF, writes its reply and calls Close, which
// returns once the sender has it. Closing the stream closes the agent.
//
// Unless the pair is relayed through TURN, QUIC drives the pair's UDP socket
// itself (batched reads and writes, GSO, path MTU discovery), and ICE's
// consent checks share the socket through the QUIC transport's non-QUIC
// packets; Stream.OnSocket says which. When ICE loses consent the session
// ends.
package nat
