package stripe

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawPeer is a Conn on one path whose peer the test plays by hand.
func rawPeer(t *testing.T, cfg Config) (*Conn, net.Conn) {
	t.Helper()
	ours, theirs := tcpPair(t)
	c, err := New([]Path{{ReadWriteCloser: ours, Name: "raw"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Abort)
	go io.Copy(io.Discard, theirs) // our acks and keepalives
	return c, theirs
}

func data(seq uint64, b []byte) []byte { return append(appendData(nil, seq, len(b)), b...) }

// TestStripeHostile: a peer that breaks the protocol ends the connection
// with ErrProtocol, before the reader holds more than the window.
func TestStripeHostile(t *testing.T) {
	piece := bytes.Repeat([]byte{'x'}, 1000)
	for _, tc := range []struct {
		name  string
		cfg   Config
		wire  func() []byte
		error string
	}{
		{"oversized piece", Config{}, func() []byte { return appendData(nil, 0, MaxPiece+1) }, "a piece of 1048577 bytes"},
		{"empty piece", Config{}, func() []byte { return appendData(nil, 0, 0) }, "a piece of 0 bytes"},
		{"unknown frame", Config{}, func() []byte { return []byte("GET / HTTP/1.1\r\n") }, "frame type 0x47"},
		{"ack beyond what we sent", Config{}, func() []byte { return appendControl(nil, frameAck, 5) }, "ack of piece 5, of 0 sent"},
		{"far ahead", Config{}, func() []byte { return data(maxPieces, piece) }, "more than 1024 ahead"},
		{"piece after the end", Config{}, func() []byte {
			return append(appendControl(nil, frameFin, 1), data(1, piece)...)
		}, "piece 1 after the end"},
		{"end moved", Config{}, func() []byte {
			return append(appendControl(nil, frameFin, 1), appendControl(nil, frameFin, 2)...)
		}, "the end moved from 1 to 2"},
		{"end before a piece seen", Config{}, func() []byte {
			return append(data(3, piece), appendControl(nil, frameFin, 2)...)
		}, "the end at 2 pieces, after piece 3"},
		{"more than the window", Config{Window: 4 << 20}, func() []byte {
			var b []byte
			big := bytes.Repeat([]byte{'y'}, MaxPiece)
			for seq := range uint64(6) {
				b = append(b, data(seq+1, big)...) // never piece 0: nothing can be read
			}
			return b
		}, "more than the window in flight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := rawPeer(t, tc.cfg)
			go peer.Write(tc.wire())
			_, err := io.ReadAll(c)
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("read: %v, want ErrProtocol: %s", err, tc.error)
			}
			c.mu.Lock()
			held := c.heldBytes
			c.mu.Unlock()
			if limit := c.cfg.Window + MaxPiece; held > limit {
				t.Errorf("held %d bytes, over %d", held, limit)
			}
		})
	}
}

// TestStripeDuplicates: pieces sent twice (again after a path died) and
// out of order are read once each, in order.
func TestStripeDuplicates(t *testing.T) {
	c, peer := rawPeer(t, Config{})
	var wire []byte
	for _, seq := range []uint64{2, 0, 0, 1, 2, 1, 3} {
		wire = append(wire, data(seq, []byte{byte('a' + seq)})...)
	}
	wire = append(wire, appendControl(nil, frameFin, 4)...)
	go peer.Write(wire)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abcd" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestStripeResentWhileReading: a piece half read on a path that fell
// silent, sent again whole on another path, is taken from the other path
// at once (it was once dropped there as a duplicate of the half-read one,
// and the stream stalled for good).
func TestStripeResentWhileReading(t *testing.T) {
	ours1, theirs1 := tcpPair(t)
	ours2, theirs2 := tcpPair(t)
	c, err := New([]Path{{ReadWriteCloser: ours1, Name: "silent"}, {ReadWriteCloser: ours2, Name: "whole"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Abort)
	go io.Copy(io.Discard, theirs1)
	go io.Copy(io.Discard, theirs2)
	piece := bytes.Repeat([]byte{'p'}, 5000)
	whole := data(0, piece)
	if _, err := theirs1.Write(whole[:len(whole)/2]); err != nil { // and nothing more
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the silent path start reading the piece
	if _, err := theirs2.Write(append(whole, appendControl(nil, frameFin, 1)...)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second)) // well before DeadAfter gives up the silent path
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, piece) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}
