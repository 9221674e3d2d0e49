package send

import "context"

// WithHashGate holds the hashing of a transfer with opts back until gate
// returns: how tests make the hashes come after the offer.
func WithHashGate(opts *FileOptions, gate func(context.Context) error) { opts.hashGate = gate }

// WithOfferGate calls gate once the sides met, just before the offer goes
// out, and ends the send with its error: how tests hold a sender before
// its offer.
func WithOfferGate(opts *FileOptions, gate func(context.Context) error) { opts.offerGate = gate }
