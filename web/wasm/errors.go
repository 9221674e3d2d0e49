//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"

	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// jsError turns err into a JavaScript Error whose message is one line for
// the user and whose name says what kind of failure it was (web/API.md).
func jsError(ctx context.Context, err error) js.Value {
	name, msg := "Error", err.Error()
	var noPath *receive.NoPathError
	switch {
	case ctx.Err() != nil:
		name, msg = "Cancelled", "cancelled"
	case errors.Is(err, receive.ErrWrongCode):
		name, msg = "WrongCode", "the code is wrong, or someone else used it: check it, or ask the sender for a new one"
	case errors.Is(err, receive.ErrDeclined), errors.Is(err, send.ErrRejected):
		name = "Declined"
	case errors.As(err, &noPath):
		name = "NoPath"
	case errors.Is(err, receive.ErrNoOffer):
		name = "NoOffer"
	case errors.Is(err, receive.ErrConnectionLost):
		// what the path said (a WebRTC state, EOF) means nothing to the user
		name, msg = "ConnectionLost", receive.ErrConnectionLost.Error()
	case errors.Is(err, send.ErrConnectionLost):
		name, msg = "ConnectionLost", send.ErrConnectionLost.Error()
	}
	e := js.Global().Get("Error").New(msg)
	e.Set("name", name)
	return e
}
