//go:build js

package transit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"
	"time"
)

// wsPoll is how often a write waiting for the browser's WebSocket to
// send what it holds looks again: a WebSocket has no event for that.
const wsPoll = 2 * time.Millisecond

// WebSocket.readyState values.
const (
	wsConnecting = 0
	wsOpen       = 1
)

// wsPolicy is the close code we end a misbehaving relay's WebSocket
// with: a browser lets a page send only 1000 and 3000 to 4999, so this is
// 1008 (policy violation) in the private range.
const wsPolicy = 4008

// openWS opens the browser's own WebSocket. coder/websocket's js build
// neither holds writes back (the browser buffers whatever is sent, so a
// page sending faster than the network grows without bound) nor bounds
// what it queues of the messages received; browserWS does both.
func openWS(ctx context.Context, url string) (wsTransport, error) {
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, errors.New("this browser has no WebSocket")
	}
	var ws js.Value
	if err := catch(func() { ws = ctor.New(url) }); err != nil {
		return nil, err
	}
	ws.Set("binaryType", "arraybuffer")
	b := &browserWS{ws: ws, q: newWSQueue(MaxWebSocketQueued)}
	opened := make(chan struct{}, 1)
	b.on("open", func(js.Value) {
		select {
		case opened <- struct{}{}:
		default:
		}
	})
	b.on("message", b.message)
	b.on("close", func(e js.Value) {
		code, reason := e.Get("code").Int(), e.Get("reason").String()
		if code == 1000 && e.Get("wasClean").Bool() {
			b.q.end(io.EOF)
		} else {
			b.q.end(fmt.Errorf("closed with code %d %q", code, reason))
		}
		b.release()
	})
	select {
	case <-opened:
		return b, nil
	case <-b.q.ready: // closed before it opened (an error event is followed by close)
		return nil, fmt.Errorf("connect: %w", b.q.failure())
	case <-ctx.Done():
		b.abort()
		return nil, ctx.Err()
	}
}

// catch runs f and returns the JavaScript exception it threw, if any.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(js.Error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// browserWS is the browser's WebSocket as a wsTransport.
type browserWS struct {
	ws       js.Value
	q        *wsQueue
	mu       sync.Mutex
	handlers []handler // removed and released on close
}

// handler is an event listener on the WebSocket.
type handler struct {
	event string
	fn    js.Func
}

func (b *browserWS) on(event string, f func(js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			f(args[0])
		}
		return nil
	})
	b.mu.Lock()
	b.handlers = append(b.handlers, handler{event, fn})
	b.mu.Unlock()
	b.ws.Call("addEventListener", event, fn)
}

// release removes the event listeners and frees them (the close event's
// own included, which may be running: Go allows that).
func (b *browserWS) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range b.handlers {
		b.ws.Call("removeEventListener", h.event, h.fn)
		h.fn.Release()
	}
	b.handlers = nil
}

// message queues one message event's data. It runs in the browser's
// event loop and must not block.
func (b *browserWS) message(e js.Value) {
	data := e.Get("data")
	if data.Type() != js.TypeObject || !data.InstanceOf(js.Global().Get("ArrayBuffer")) {
		b.fail(errors.New("the relay sent a text message"))
		return
	}
	n := data.Get("byteLength").Int()
	if n > MaxWebSocketMessage {
		b.fail(fmt.Errorf("the relay sent a message of %d bytes, more than %d", n, MaxWebSocketMessage))
		return
	}
	p := make([]byte, n)
	js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(data))
	if err := b.q.push(p); err != nil {
		b.close(wsPolicy, "too much unread")
	}
}

func (b *browserWS) fail(err error) {
	b.q.end(err)
	b.close(wsPolicy, "")
}

// close closes the WebSocket with code, ignoring what the browser throws
// (a WebSocket that is closed already).
func (b *browserWS) close(code int, reason string) {
	catch(func() { b.ws.Call("close", code, reason) })
}

func (b *browserWS) Read(p []byte) (int, error) { return b.q.Read(p) }

// Write sends p in messages of at most wsWriteChunk bytes, each once the
// WebSocket holds at most MaxWebSocketBuffered bytes it has not sent.
func (b *browserWS) Write(p []byte) (int, error) {
	arr := js.Undefined()
	done := 0
	for done < len(p) {
		if err := b.waitBuffered(); err != nil {
			return done, err
		}
		chunk := p[done:min(len(p), done+wsWriteChunk)]
		if arr.IsUndefined() || arr.Get("length").Int() != len(chunk) {
			arr = js.Global().Get("Uint8Array").New(len(chunk))
		}
		js.CopyBytesToJS(arr, chunk)
		if err := catch(func() { b.ws.Call("send", arr) }); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// waitBuffered waits until the WebSocket holds at most
// MaxWebSocketBuffered bytes not yet sent, while it is open.
func (b *browserWS) waitBuffered() error {
	for {
		switch s := b.ws.Get("readyState").Int(); {
		case s == wsConnecting:
		case s != wsOpen:
			if err := b.q.failure(); err != nil && err != io.EOF {
				return err
			}
			return errors.New("closed by the relay")
		case b.ws.Get("bufferedAmount").Int() <= MaxWebSocketBuffered:
			return nil
		}
		time.Sleep(wsPoll)
	}
}

// closeNormal closes the WebSocket; the browser sends what it holds
// first, then the close.
func (b *browserWS) closeNormal() { b.close(1000, "") }

// abort closes it too: a browser has nothing harder.
func (b *browserWS) abort() { b.close(1000, "") }
