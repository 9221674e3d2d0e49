//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// sendJS is ferry.send(opts): a text message, or the files the user
// picked (see web/API.md).
func sendJS(opts js.Value) js.Value {
	return promise(opts.Get("signal"), func(ctx context.Context) (any, error) {
		pg, err := loadPage(ctx)
		if err != nil {
			return nil, err
		}
		so := send.Options{
			Relay:  pg.relay,
			Verify: func(v string) error { call(opts, "onVerifier", v); return nil },
			OnCode: func(code string) {
				call(opts, "onCode", code, js.Global().Get("location").Get("origin").String()+"/#"+code)
			},
		}
		out := js.Global().Get("Object").New()
		if text := opts.Get("text"); text.Type() == js.TypeString {
			if err := send.Text(ctx, so, text.String()); err != nil {
				return nil, err
			}
			out.Set("summary", "text message sent")
			return out, nil
		}
		fsys, tops, err := newPickedFS(ctx, opts.Get("files"))
		if err != nil {
			return nil, err
		}
		fo := send.FileOptions{Options: so, FS: fsys, Progress: throttle(opts),
			OnConnecting: func(paths []string) { call(opts, "onConnecting", stringsToJS(paths)) }}
		pg.link(&fo.Transport, &fo.TransitRelay, &fo.NAT, &fo.DialTransit)
		sum, err := send.Files(ctx, fo, tops)
		if err != nil {
			return nil, err
		}
		out.Set("files", sum.Files)
		out.Set("bytes", sum.Bytes)
		out.Set("seconds", sum.Duration.Seconds())
		out.Set("path", sum.Path)
		out.Set("summary", fmt.Sprintf("sent %s (%s), %s, over %s", count(sum.Files, "file"), topNames(tops), receive.Rate(sum.Bytes, sum.Duration), sum.Path))
		return out, nil
	})
}
