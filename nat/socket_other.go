//go:build !linux

package nat

// forceBuffers has no privileged override outside Linux; it reports nothing
// so that growBuffers falls back to SetReadBuffer and SetWriteBuffer.
func forceBuffers(bufferConn, int) (rcv, snd int) { return 0, 0 }

// readBuffers cannot portably read the buffer sizes back.
func readBuffers(bufferConn) (rcv, snd int) { return 0, 0 }
