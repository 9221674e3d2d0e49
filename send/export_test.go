package send

import "context"

// WithHashGate holds the hashing of a transfer with opts back until gate
// returns: how tests make the hashes come after the offer.
func WithHashGate(opts *FileOptions, gate func(context.Context) error) { opts.hashGate = gate }
