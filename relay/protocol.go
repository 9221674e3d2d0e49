package relay

import (
	"encoding/json"
	"errors"
	"time"
)

// handle processes one frame from the client. Like the reference server
// (server_websocket.py), every message with a "type" is acked first (with
// its "id", or null), then answered or refused with an "error" that echoes
// the message as "orig".
func (c *conn) handle(frame []byte) {
	now := c.srv.cfg.now()
	f, orig, err := parseFrame(frame)
	if err != nil {
		c.sendError(err, orig, now)
		return
	}
	if !f.has("type") {
		c.sendError(clientError("missing 'type'"), orig, now)
		return
	}
	c.sendMsg(ackMsg{header: newHeader("ack", now), ID: f["id"]})
	typ, _, _ := f.str("type") // a non-string type is just an unknown type
	if err := c.dispatch(typ, f, now); err != nil {
		c.sendError(err, orig, now)
	}
}

// sendError reports a failed command. Client errors are sent verbatim;
// anything else is logged and reported as an internal error.
func (c *conn) sendError(err error, orig json.RawMessage, now time.Time) {
	c.srv.metrics.refused.add(refusalReason(err))
	var ce clientError
	text := "internal server error"
	if errors.As(err, &ce) {
		text = string(ce)
	} else {
		c.log.Error("command failed", "err", err)
	}
	c.sendMsg(errorMsg{header: newHeader("error", now), Error: text, Orig: orig})
}

func (c *conn) dispatch(typ string, f fields, now time.Time) error {
	switch typ {
	case "ping":
		return c.handlePing(f, now)
	case "submit-permissions":
		return c.handleSubmitPermissions(f)
	case "bind":
		if c.srv.cfg.HashcashBits > 0 && !c.permitted {
			return errPermission
		}
		return c.handleBind(f)
	}
	if c.app == "" {
		return clientError("must bind first")
	}
	switch typ {
	case "list":
		return c.handleList(now)
	case "allocate":
		return c.handleAllocate(now)
	case "claim":
		return c.handleClaim(f, now)
	case "release":
		return c.handleRelease(f, now)
	case "open":
		return c.handleOpen(f, now)
	case "add":
		return c.handleAdd(f, now)
	case "close":
		return c.handleClose(f, now)
	}
	return clientError("unknown type")
}

func (c *conn) handlePing(f fields, now time.Time) error {
	if !f.has("ping") {
		return clientError("ping requires 'ping'")
	}
	c.sendMsg(pongMsg{header: newHeader("pong", now), Pong: f["ping"]})
	return nil
}

func (c *conn) handleBind(f fields) error {
	if c.app != "" {
		return clientError("already bound")
	}
	app, err := f.token("appid", "bind requires 'appid'")
	if err != nil {
		return err
	}
	side, err := f.token("side", "bind requires 'side'")
	if err != nil {
		return err
	}
	c.app, c.side = app, side
	c.log = c.log.With("app", app, "side", side)
	if v := f["client_version"]; len(v) <= maxTokenLen {
		c.log.Debug("bound", "client_version", string(v))
	}
	return nil
}

func (c *conn) handleList(now time.Time) error {
	names, err := c.srv.state.list(c.app)
	if err != nil {
		return err
	}
	ids := make([]nameplateID, 0, len(names))
	for _, n := range names {
		ids = append(ids, nameplateID{ID: n})
	}
	c.sendMsg(nameplatesMsg{header: newHeader("nameplates", now), Nameplates: ids})
	return nil
}

func (c *conn) handleAllocate(now time.Time) error {
	if c.didAllocate {
		return clientError("you already allocated one, don't be greedy")
	}
	name, err := c.srv.state.allocate(c.app, c.side, c.addr, now)
	if err != nil {
		return err
	}
	c.didAllocate = true
	c.sendMsg(allocatedMsg{header: newHeader("allocated", now), Nameplate: name})
	return nil
}

func (c *conn) handleClaim(f fields, now time.Time) error {
	if !f.has("nameplate") {
		return clientError("claim requires 'nameplate'")
	}
	if c.didClaim {
		return clientError("only one claim per connection")
	}
	name, _, err := f.str("nameplate")
	if err != nil {
		return err
	}
	c.didClaim, c.nameplate = true, name
	if !validNameplate(name) {
		return clientError("nameplate must be 1 to 40 digits")
	}
	mbox, err := c.srv.state.claim(c.app, name, c.side, c.addr, now)
	if err != nil {
		return err
	}
	c.sendMsg(claimedMsg{header: newHeader("claimed", now), Mailbox: mbox})
	return nil
}

func (c *conn) handleRelease(f fields, now time.Time) error {
	if c.didRelease {
		return clientError("only one release per connection")
	}
	name := c.nameplate
	if f.has("nameplate") {
		n, _, err := f.str("nameplate")
		if err != nil {
			return err
		}
		if c.didClaim && n != c.nameplate {
			return clientError("release and claim must use same nameplate")
		}
		name = n
	} else if !c.didClaim {
		return clientError("release without nameplate must follow claim")
	}
	c.didRelease = true
	if err := c.srv.state.release(c.app, name, c.side); err != nil {
		return err
	}
	c.sendMsg(header{Type: "released", ServerTX: unixSeconds(now)})
	return nil
}

func (c *conn) handleOpen(f fields, now time.Time) error {
	if c.didOpen {
		return clientError("only one open per connection")
	}
	id, err := f.token("mailbox", "open requires 'mailbox'")
	if err != nil {
		return err
	}
	c.hasMailbox, c.mailboxID = true, id
	// What the mailbox delivers may queue on top of the replies.
	extra := c.srv.cfg.mailboxQueueBytes()
	c.queue.setMax(extra)
	if err := c.srv.state.open(c.app, id, c.side, c.addr, c, now); err != nil {
		c.queue.setMax(-extra)
		return err
	}
	c.didOpen, c.listening = true, true
	return nil
}

func (c *conn) handleAdd(f fields, now time.Time) error {
	if !c.listening {
		return clientError("must open mailbox before adding")
	}
	phase, err := f.token("phase", "missing 'phase'")
	if err != nil {
		return err
	}
	body, ok, err := f.str("body")
	if err != nil {
		return err
	}
	if !ok {
		return clientError("missing 'body'")
	}
	m := message{Side: c.side, Phase: phase, Body: body, ServerRX: unixSeconds(now), ID: f["id"]}
	if err := c.srv.state.add(c.app, c.mailboxID, m, c.addr, now); err != nil {
		return err
	}
	c.srv.metrics.messages.Add(1)
	return nil
}

func (c *conn) handleClose(f fields, now time.Time) error {
	if c.didClose {
		return clientError("only one close per connection")
	}
	id := c.mailboxID
	if f.has("mailbox") {
		m, _, err := f.str("mailbox")
		if err != nil {
			return err
		}
		if c.hasMailbox && m != c.mailboxID {
			return clientError("open and close must use same mailbox")
		}
		id = m
	} else if !c.hasMailbox {
		return clientError("close without mailbox must follow open")
	}
	mood, _, _ := f.str("mood") // informational only
	var l listener
	if c.listening {
		l = c
	}
	if err := c.srv.state.close(c.app, id, c.side, mood, l, now); err != nil {
		return err
	}
	c.listening, c.didClose = false, true
	c.sendMsg(header{Type: "closed", ServerTX: unixSeconds(now)})
	return nil
}
