//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
)

// receiveJS is ferry.receive(opts): see web/API.md.
func receiveJS(opts js.Value) js.Value {
	return promise(opts.Get("signal"), func(ctx context.Context) (any, error) {
		code := opts.Get("code").String()
		if err := receive.CheckCode(code); err != nil {
			return nil, fmt.Errorf("a code looks like 7-guitarist-revenge (%w)", err)
		}
		pg, err := loadPage(ctx)
		if err != nil {
			return nil, err
		}
		var sink js.Value
		ro := receive.Options{
			Relay: pg.relay,
			Verify: func(v string) error {
				call(opts, "onVerifier", v)
				return nil
			},
			Accept: func(man receive.Manifest) error {
				s, err := await(ctx, call(opts, "onOffer", offerJS(man)))
				if err != nil {
					return err
				}
				if s.IsNull() || s.IsUndefined() {
					return receive.ErrDeclined
				}
				sink = s
				return nil
			},
			Save: func(string, int64, bool) (receive.Output, error) {
				return &output{ctx: ctx, sink: sink}, nil
			},
			Progress:     throttle(opts),
			Stream:       streamOptions(ctx),
			OnConnecting: func(paths []string) { call(opts, "onConnecting", stringsToJS(paths)) },
		}
		pg.link(&ro.Transport, &ro.TransitRelay, &ro.NAT, &ro.DialTransit)
		res, err := receive.Run(ctx, code, ro)
		if err != nil {
			return nil, err
		}
		out := js.Global().Get("Object").New()
		if res.Manifest.Entries == nil {
			out.Set("text", res.Text)
			out.Set("summary", "received a text message")
			return out, nil
		}
		out.Set("files", res.Manifest.Files)
		out.Set("bytes", res.Manifest.Bytes)
		out.Set("seconds", res.Duration.Seconds())
		out.Set("path", res.Path)
		out.Set("summary", fmt.Sprintf("received %s, %s, over %s", count(res.Manifest.Files, "file"), receive.Rate(res.Manifest.Bytes, res.Duration), res.Path))
		return out, nil
	})
}

// offerJS is the offer as the page sees it: names as sent and as they
// may be shown (control, bidi and invisible characters escaped).
func offerJS(man receive.Manifest) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("files", man.Files)
	o.Set("bytes", man.Bytes)
	entries := js.Global().Get("Array").New(len(man.Entries))
	for i, e := range man.Entries {
		je := js.Global().Get("Object").New()
		je.Set("name", e.Name)
		je.Set("display", escape.Terminal(e.Name))
		je.Set("size", e.Size)
		je.Set("dir", e.Dir)
		entries.SetIndex(i, je)
	}
	o.Set("entries", entries)
	name, size, isZip := receive.SaveAs(man)
	save := js.Global().Get("Object").New()
	save.Set("name", name)
	save.Set("display", escape.Terminal(name))
	save.Set("size", size)
	save.Set("zip", isZip)
	o.Set("save", save)
	return o
}

// output writes a transfer into the page's Sink, waiting for each chunk
// to be handed on (back-pressure through the page).
type output struct {
	ctx  context.Context
	sink js.Value
	done bool
}

func (o *output) Write(p []byte) (int, error) {
	if o.sink.Type() != js.TypeObject {
		return 0, errors.New("the page gave nowhere to save the file")
	}
	if _, err := await(o.ctx, o.sink.Call("write", bytesToJS(p))); err != nil {
		return 0, fmt.Errorf("save: %w", err)
	}
	return len(p), nil
}

func (o *output) Commit() error {
	o.done = true
	_, err := await(o.ctx, o.sink.Call("close"))
	return err
}

func (o *output) Abort(reason error) {
	if o.done || o.sink.Type() != js.TypeObject {
		return
	}
	o.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	await(ctx, o.sink.Call("abort", reason.Error()))
}

// throttle reports progress to the page at most ten times a second (and
// at the end).
func throttle(opts js.Value) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if now := time.Now(); now.Sub(last) >= 100*time.Millisecond || done == total {
			last = now
			call(opts, "onProgress", done, total)
		}
	}
}

func count(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
