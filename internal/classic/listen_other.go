//go:build !js

package classic

// canListen is whether this build can take TCP connections from a peer.
const canListen = true
