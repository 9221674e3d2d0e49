//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"

	"github.com/ferrydrop/ferry/send"
)

// sendJS is ferry.send(opts): see web/API.md. It sends a text message;
// files from the browser are not built yet (issue 11, item 4).
func sendJS(opts js.Value) js.Value {
	return promise(opts.Get("signal"), func(ctx context.Context) (any, error) {
		text := opts.Get("text")
		if text.Type() != js.TypeString {
			return nil, errors.New("this page cannot send files yet: only text")
		}
		pg, err := loadPage(ctx)
		if err != nil {
			return nil, err
		}
		so := send.Options{
			Relay:  pg.relay,
			Verify: func(v string) error { call(opts, "onVerifier", v); return nil },
			OnLink: func(string) {},
			OnCode: func(code string) {
				call(opts, "onCode", code, js.Global().Get("location").Get("origin").String()+"/#"+code)
			},
		}
		if err := send.Text(ctx, so, text.String()); err != nil {
			return nil, err
		}
		out := js.Global().Get("Object").New()
		out.Set("summary", "text message sent")
		return out, nil
	})
}
