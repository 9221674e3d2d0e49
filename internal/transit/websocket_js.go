//go:build js

package transit

import "github.com/coder/websocket"

// In a browser the page's WebSocket negotiates compression itself.
func wsDialOptions() *websocket.DialOptions { return nil }
