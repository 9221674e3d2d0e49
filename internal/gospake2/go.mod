module salsa.debian.org/vasudev/gospake2

go 1.26.0

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)
