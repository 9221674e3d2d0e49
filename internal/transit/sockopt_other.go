//go:build !linux

package transit

import "syscall"

// CongestionControl is what ferry would ask for; only Linux lets a
// connection choose.
const CongestionControl = ""

// control leaves the socket as it is.
func control(_, _ string, _ syscall.RawConn) error { return nil }

// CongestionControl is "": unknown.
func (l *Listener) CongestionControl() string { return "" }
