//go:build js

package classic

// canListen is false in a browser: it cannot accept TCP connections.
const canListen = false
