//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"
)

// await waits for a JavaScript promise (a value that is not a promise is
// its own result). A rejection becomes an error with the reason's message.
func await(ctx context.Context, p js.Value) (js.Value, error) {
	if p.Type() != js.TypeObject || p.Get("then").Type() != js.TypeFunction {
		return p, nil
	}
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		then.Release()
		catch.Release()
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "the page failed"
		if len(args) > 0 {
			msg = errorText(args[0])
		}
		done <- result{err: errors.New(msg)}
		then.Release()
		catch.Release()
		return nil
	})
	p.Call("then", then, catch)
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err() // the functions release themselves when it settles
	}
}

// errorText is what a JavaScript error (or any thrown value) says.
func errorText(v js.Value) string {
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		return v.Get("message").String()
	}
	return js.Global().Call("String", v).String()
}

// promise runs f in its own goroutine (a JavaScript callback must not
// block the event loop) and returns a promise of its result. The context
// ends when signal (an AbortSignal, or undefined) aborts.
func promise(signal js.Value, f func(ctx context.Context) (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		executor.Release()
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if signal.Type() == js.TypeObject {
				if signal.Get("aborted").Bool() {
					cancel()
				}
				onAbort := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
				defer onAbort.Release()
				signal.Call("addEventListener", "abort", onAbort)
				defer signal.Call("removeEventListener", "abort", onAbort)
			}
			v, err := f(ctx)
			if err != nil {
				reject.Invoke(jsError(ctx, err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

// call calls opts[name](args...) if the page set it.
func call(opts js.Value, name string, args ...any) js.Value {
	if opts.Type() != js.TypeObject || opts.Get(name).Type() != js.TypeFunction {
		return js.Undefined()
	}
	return opts.Call(name, args...)
}

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// strings converts a Go string slice to a JavaScript array.
func stringsToJS(ss []string) js.Value {
	a := js.Global().Get("Array").New(len(ss))
	for i, s := range ss {
		a.SetIndex(i, s)
	}
	return a
}
