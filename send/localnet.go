//go:build !js

package send

import (
	"log/slog"

	"github.com/ferrydrop/ferry/internal/lan"
)

// LocalNetwork is the real local network for Options.LAN (and
// receive.Options.LAN): a mailbox of ferry relay's, served in process on
// the LAN addresses of this computer's interfaces, advertised and found
// with DNS-SD over multicast DNS (service _ferry._tcp). log, if not nil,
// gets its debug log. Not in the browser, which has no multicast.
func LocalNetwork(log *slog.Logger) LAN {
	return lan.Discovery{Net: lan.Network{Logger: log}}
}
