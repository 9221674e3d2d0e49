//go:build js && wasm

package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"slices"
	"syscall/js"

	"github.com/ferrydrop/ferry/crypto"
)

// streamAhead is how many chunks of the peer stream WebCrypto opens at
// once: enough to keep its thread busy while the program copies.
const streamAhead = 4

// streamOptions opens the peer stream's chunks with the browser's
// WebCrypto (AES-GCM in hardware, off the page's thread), several at a
// time; in a page without it (WebCrypto is only given to secure origins
// and localhost) with Go's AES.
func streamOptions(ctx context.Context) crypto.StreamOptions {
	subtle := js.Global().Get("crypto")
	if subtle.Type() == js.TypeObject {
		subtle = subtle.Get("subtle")
	}
	if subtle.Type() != js.TypeObject {
		return crypto.StreamOptions{}
	}
	return crypto.StreamOptions{Ahead: streamAhead, NewOpener: func(key []byte) (crypto.Opener, error) {
		k, err := await(ctx, subtle.Call("importKey", "raw", bytesToJS(key), "AES-GCM", false, []any{"decrypt"}))
		if err != nil {
			// not this browser's AES-GCM after all: Go's
			b, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			return cipher.NewGCM(b)
		}
		return &webCryptoGCM{ctx: ctx, subtle: subtle, key: k}, nil
	}}
}

// webCryptoGCM is AES-GCM (12-byte nonce, 16-byte tag) under a WebCrypto
// key.
type webCryptoGCM struct {
	ctx    context.Context
	subtle js.Value
	key    js.Value // CryptoKey
}

var errAuth = errors.New("message authentication failed")

func (w *webCryptoGCM) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	params := js.Global().Get("Object").New()
	params.Set("name", "AES-GCM")
	params.Set("iv", bytesToJS(nonce))
	params.Set("additionalData", bytesToJS(ad))
	params.Set("tagLength", 128)
	v, err := await(w.ctx, w.subtle.Call("decrypt", params, w.key, bytesToJS(ciphertext)))
	if err != nil {
		if w.ctx.Err() != nil {
			return nil, w.ctx.Err()
		}
		return nil, errAuth
	}
	plain := js.Global().Get("Uint8Array").New(v)
	n := plain.Length()
	if n != len(ciphertext)-16 {
		return nil, errAuth
	}
	dst = slices.Grow(dst, n)
	js.CopyBytesToGo(dst[len(dst):len(dst)+n], plain)
	return dst[:len(dst)+n], nil
}
