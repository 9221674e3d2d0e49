package main

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/ferrydrop/ferry/send"
)

// noRelayLine is what ferry send says when only the LAN serves its code.
const noRelayLine = "no relay reachable: only receivers on this network can use the code"

// addLANFlag adds --lan to a send or receive flag set.
func addLANFlag(fs *flag.FlagSet) *string {
	return fs.String("lan", envOr("FERRY_LAN", send.LANAuto),
		"find the other side on the local network too: `auto` (the relay and the LAN), only (the LAN alone) or off (env FERRY_LAN)")
}

// lanConfig turns --lan into what send and receive take: the local
// network (nil with off) and whether it is all there is.
func lanConfig(mode string, log *slog.Logger) (send.LAN, bool, error) {
	switch mode {
	case send.LANOff:
		return nil, false, nil
	case send.LANAuto, send.LANOnly:
		return send.LocalNetwork(log), mode == send.LANOnly, nil
	}
	return nil, false, fmt.Errorf("--lan: unknown mode %q (want auto, only or off)", mode)
}
