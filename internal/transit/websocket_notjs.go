//go:build !js

package transit

import "github.com/coder/websocket"

func wsDialOptions() *websocket.DialOptions {
	// The transit stream is encrypted: nothing to compress, and no
	// compressor's memory.
	return &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled}
}
