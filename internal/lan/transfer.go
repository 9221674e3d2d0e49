package lan

import (
	"context"

	"github.com/ferrydrop/ferry/internal/transfer"
)

// Discovery is a Network as send and receive take it (transfer.LAN).
type Discovery struct{ Net Network }

var _ transfer.LAN = Discovery{}

// Serve starts a mailbox on the LAN addresses.
func (d Discovery) Serve(ctx context.Context) (transfer.LANMailbox, error) {
	m, err := d.Net.Serve(ctx)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Browse reports the URLs of the mailboxes advertised for nameplate.
func (d Discovery) Browse(ctx context.Context, nameplate string, found func(url string)) error {
	return d.Net.Browse(ctx, nameplate, func(f Found) { found(f.URL) })
}
