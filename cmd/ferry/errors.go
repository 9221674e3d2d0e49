package main

import (
	"context"
	"errors"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// fail prints one line for err, and a hint where one helps, and returns
// the exit code. role is "send" or "receive".
func (c *cli) fail(ctx context.Context, err error, role string) int {
	var serr *receive.ServerError
	var noPath *receive.NoPathError
	switch {
	case ctx.Err() != nil:
		c.errorf("interrupted")
	case errors.Is(err, receive.ErrWrongCode):
		c.errorf("%v", receive.ErrWrongCode)
		if role == "send" {
			c.hintf("run \"ferry send\" again for a new code, and read it out carefully")
		} else {
			c.hintf("check the code, or ask the sender for a new one")
		}
	case errors.Is(err, errNotVerified):
		c.errorf("%v", err)
		c.hintf("someone may be in the middle; start again with a new code")
	case errors.Is(err, send.ErrRejected):
		c.errorf("%v", err)
	case errors.As(err, &serr):
		c.errorf("%v", err)
		c.hintf("the words in quotes are the relay's, not ferry's")
	case errors.Is(err, crypto.ErrUnknownSigner):
		c.errorf("%v", err)
		c.hintf("import the sender's key (ferry key import FILE) and receive again")
	case errors.Is(err, crypto.ErrNoKey):
		c.errorf("%v", err)
		c.hintf("the sender must seal it to one of your keys: send them yours (ferry key export --armor)")
	case errors.As(err, &noPath):
		c.errorf("%v", err)
		c.hintf("no direct path through the NATs between you: give both sides a TURN server (--turn) or a transit relay (--transit), such as one ferry relay runs")
	case errors.Is(err, receive.ErrNoOffer):
		c.errorf("%v", err)
		c.hintf("the sender's program may have ended or lost its network; ask for a new code (--offer-timeout waits longer)")
	case errors.Is(err, send.ErrStalled):
		c.errorf("%v", err)
		c.hintf("the other side may have been stopped or lost its network; try again (--idle-timeout waits longer)")
	default:
		c.errorf("%v", err)
		var de *receive.DialError
		if errors.As(err, &de) {
			c.hintf("check the relay address (--relay or FERRY_RELAY) and your network")
		}
	}
	return exitFailure
}
