//go:build js && wasm

// Command wasm is ferry's browser client: compiled to WebAssembly
// (scripts/build-web writes it to web/static/ferry.wasm), it runs in the
// page that `ferry relay` serves and gives the page's script a small API
// on globalThis.ferry (web/API.md): receive, send, code completion, QR
// codes. The protocol is ferry's own Go code: the same mailbox client,
// SPAKE2, offers, OpenPGP stream and classic protocol as the CLI.
package main

import (
	"encoding/base64"
	"runtime"
	"syscall/js"

	"github.com/skip2/go-qrcode"

	"github.com/ferrydrop/ferry/receive"
)

// version is the page's ferry version.
const version = "0.1.0"

func main() {
	api := js.Global().Get("Object").New()
	funcs := map[string]func(js.Value, []js.Value) any{
		"receive": func(_ js.Value, args []js.Value) any { return receiveJS(arg(args, 0)) },
		"send":    func(_ js.Value, args []js.Value) any { return sendJS(arg(args, 0)) },
		"complete": func(_ js.Value, args []js.Value) any {
			return stringsToJS(receive.CompleteCode(arg(args, 0).String(), 0, 12))
		},
		"checkCode": func(_ js.Value, args []js.Value) any {
			if err := receive.CheckCode(arg(args, 0).String()); err != nil {
				return "a code looks like 7-guitarist-revenge"
			}
			return ""
		},
		"qr": func(_ js.Value, args []js.Value) any {
			png, err := qrcode.Encode(arg(args, 0).String(), qrcode.Medium, 320)
			if err != nil {
				return ""
			}
			return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		},
	}
	for name, f := range funcs {
		api.Set(name, js.FuncOf(f)) // never released: the page uses them until it closes
	}
	api.Set("version", version)
	// for scripts/bench-web: the program's linear memory, in bytes
	js.Global().Set("ferryWasmMemory", js.FuncOf(func(js.Value, []js.Value) any {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.Sys)
	}))
	js.Global().Set("ferry", api)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("ferry-ready"))
	select {} // serve the page's calls until it closes
}

// arg is args[i], or undefined.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}
