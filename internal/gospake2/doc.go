// Package gospake2 is SPAKE2 over the Ed25519 group, byte-compatible with
// python-spake2 0.8 in symmetric mode.
package gospake2
