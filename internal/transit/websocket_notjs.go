//go:build !js

package transit

import (
	"context"
	"net"

	"github.com/coder/websocket"
)

// openWS dials with coder/websocket; TCP holds the relay back when we
// read slowly, and our writes when it does.
func openWS(ctx context.Context, url string) (wsTransport, error) {
	// The transit stream is encrypted: nothing to compress, and no
	// compressor's memory.
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	// NetConn lifts the read limit; put it back, after.
	ws.SetReadLimit(MaxWebSocketMessage)
	return &coderWS{Conn: nc, ws: ws, stop: stop}, nil
}

// coderWS is a coder/websocket connection as a wsTransport.
type coderWS struct {
	net.Conn // websocket.NetConn: binary messages as a stream
	ws       *websocket.Conn
	stop     context.CancelFunc // ends the WebSocket at once
}

func (c *coderWS) closeNormal() {
	c.ws.Close(websocket.StatusNormalClosure, "")
	c.stop()
}

func (c *coderWS) abort() { c.stop() }
