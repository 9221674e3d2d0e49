// Package mailbox is a client for the Magic Wormhole mailbox (rendezvous)
// server protocol: one websocket carrying JSON frames, every command
// acknowledged, mailbox messages broadcast to both sides.
//
// Unlike wormhole-william's rendezvous client it routes a server `error`
// that follows an `ack` to the command that caused it, reports the
// welcome's error text, and ends Next when the connection dies, so no
// call can hang past its context.
package mailbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/ferrydrop/ferry/escape"
)

// Limits on what the server may send us; all checked before allocation
// beyond the websocket frame itself.
const (
	maxFrame  = 4 << 20 // bytes in one websocket frame
	maxQueued = 256     // mailbox messages waiting for Next

	writeTimeout = 30 * time.Second // one frame to the relay
)

// Mood is what a side reports when it closes its mailbox.
type Mood string

// The moods of the client protocol.
const (
	Happy  Mood = "happy"
	Lonely Mood = "lonely"
	Scary  Mood = "scary"
	Errory Mood = "errory"
)

// Message is one mailbox message, from either side (the server echoes our
// own messages back to us).
type Message struct {
	Side  string
	Phase string
	Body  []byte
}

// Welcome is the server's greeting, as the relay wrote it: escape it
// (package escape) before showing it.
type Welcome struct {
	MOTD              string
	CurrentCLIVersion string
	// Page is where the relay serves ferry's browser client (an http or
	// https URL, checked by PageURL), or "".
	Page string
	// YourAddress is the address the relay saw us connect from (its
	// welcome's your-address, mailbox server 0.8), when it said; a hint
	// of our public address, which the relay could lie about.
	YourAddress netip.Addr
	// Transit and STUN are the relay node's own transit relay and STUN
	// server (HOST:PORT, checked by ServiceAddr), when its welcome named
	// them (ferry_transit, ferry_stun), else "".
	Transit, STUN string
	// permission is what the relay requires before bind, if anything.
	permission permission
}

// DialError means the relay could not be reached or did not greet us.
type DialError struct {
	URL string
	Err error
}

func (e *DialError) Error() string { return fmt.Sprintf("cannot reach relay %s: %v", e.URL, e.Err) }

func (e *DialError) Unwrap() error { return e.Err }

// ServerError is an `error` frame from the server, or the error of its
// welcome. Msg is the relay's text as it came (for matching); Error shows
// it escaped, quoted and cut short, since anyone who runs a relay, or sits
// on the path to a plaintext ws:// one, writes it.
type ServerError struct{ Msg string }

func (e *ServerError) Error() string { return "the relay said: " + escape.Quote(e.Msg) }

// ErrCrowded is matched (with errors.Is) by the server's "crowded" error:
// a third side tried to use the nameplate or mailbox.
var ErrCrowded = &ServerError{Msg: "crowded"}

// Is reports whether target is a ServerError with the same text.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Msg == e.Msg
}

// Client is a connection to a mailbox server. Commands are serialised;
// Next may be called concurrently with them.
type Client struct {
	conn *websocket.Conn
	log  *slog.Logger

	cmdMu sync.Mutex // one command in flight

	permission permission // what the welcome required before bind

	mu       sync.Mutex
	waiter   *waiter // the command in flight, if any
	queue    []Message
	notify   chan struct{} // signalled when queue or err change
	err      error         // set once the connection is finished
	done     chan struct{}
	closeOne sync.Once
}

type waiter struct {
	id     string
	want   string // response type, "" when the ack is all
	acked  bool
	result chan frame
}

// frame is the part of every server frame the client looks at.
type frame struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Error     string          `json:"error"`
	Orig      json.RawMessage `json:"orig"`
	Welcome   json.RawMessage `json:"welcome"`
	Nameplate string          `json:"nameplate"`
	Mailbox   string          `json:"mailbox"`
	Side      string          `json:"side"`
	Phase     string          `json:"phase"`
	Body      string          `json:"body"`
	Names     []struct {
		ID string `json:"id"`
	} `json:"nameplates"`
}

// Dial connects to the mailbox server at url and waits for its welcome.
// A welcome carrying an error is returned as a *ServerError.
func Dial(ctx context.Context, url string, log *slog.Logger) (*Client, Welcome, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op // "dial tcp 127.0.0.1:1: connect: connection refused"
		}
		return nil, Welcome{}, &DialError{URL: url, Err: err}
	}
	conn.SetReadLimit(maxFrame)
	c := &Client{conn: conn, log: log, notify: make(chan struct{}, 1), done: make(chan struct{})}
	welcome := make(chan frame, 1)
	go c.readLoop(welcome)
	select {
	case f := <-welcome:
		w, err := parseWelcome(f.Welcome)
		var refused *ServerError
		switch {
		case errors.As(err, &refused):
			c.Close()
			return nil, Welcome{}, fmt.Errorf("relay %s refused the connection: %w", url, err)
		case err != nil:
			c.Close()
			return nil, Welcome{}, fmt.Errorf("read welcome from relay %s: %w", url, err)
		}
		c.permission = w.permission
		return c, w, nil
	case <-c.done:
		return nil, Welcome{}, &DialError{URL: url, Err: fmt.Errorf("no welcome: %w", c.Err())}
	case <-ctx.Done():
		c.Close()
		return nil, Welcome{}, fmt.Errorf("read welcome from relay %s: %w", url, ctx.Err())
	}
}

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close tears the connection down without telling the server anything.
func (c *Client) Close() error {
	c.finish(errors.New("connection closed"))
	return c.conn.Close(websocket.StatusNormalClosure, "")
}

func (c *Client) finish(err error) {
	c.closeOne.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}

func (c *Client) readLoop(welcome chan<- frame) {
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || errors.Is(err, io.EOF) {
				err = errors.New("relay closed the connection")
			}
			c.finish(fmt.Errorf("read from relay: %w", err))
			return
		}
		if err := c.handle(data, welcome); err != nil {
			c.finish(err)
			c.conn.CloseNow()
			return
		}
	}
}

// handle processes one frame from the server. An error means the
// connection must end: the server refused us, or flooded the queue.
func (c *Client) handle(data []byte, welcome chan<- frame) error {
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.log.Debug("mailbox: ignoring unparsable frame", "err", err)
		return nil
	}
	c.log.Debug("mailbox: rx", "type", f.Type, "phase", f.Phase, "side", f.Side)
	switch f.Type {
	case "welcome":
		select {
		case welcome <- f:
		default:
		}
	case "message":
		return c.enqueue(f)
	case "error":
		if !c.deliverError(f) {
			return &ServerError{Msg: f.Error}
		}
	default:
		c.deliver(f)
	}
	return nil
}

func (c *Client) enqueue(f frame) error {
	body, err := hex.DecodeString(f.Body)
	if err != nil {
		c.log.Debug("mailbox: dropping message with non-hex body", "phase", f.Phase)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) >= maxQueued {
		return errors.New("relay sent more mailbox messages than ferry will queue")
	}
	c.queue = append(c.queue, Message{Side: f.Side, Phase: f.Phase, Body: body})
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// deliver hands an ack or response to the command in flight.
func (c *Client) deliver(f frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiter
	if w == nil {
		return
	}
	switch {
	case f.Type == "ack" && f.ID == w.id:
		w.acked = true
		if w.want == "" {
			w.result <- f
			c.waiter = nil
		}
	case w.acked && f.Type == w.want:
		w.result <- f
		c.waiter = nil
	}
}

// deliverError routes an error frame to the command that caused it and
// reports whether there was one.
func (c *Client) deliverError(f frame) bool {
	var orig struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(f.Orig, &orig)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiter
	if w == nil || (orig.ID != "" && orig.ID != w.id) {
		return false
	}
	w.result <- f
	c.waiter = nil
	return true
}

// command sends msg (a JSON object without type and id) and waits for the
// ack and, when want is set, the response of that type.
func (c *Client) command(ctx context.Context, typ, want string, msg map[string]any) (frame, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	if err := c.Err(); err != nil {
		return frame{}, err
	}
	id := randomHex(2)
	if msg == nil {
		msg = map[string]any{}
	}
	msg["type"], msg["id"] = typ, id
	data, err := json.Marshal(msg)
	if err != nil {
		return frame{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	w := &waiter{id: id, want: want, result: make(chan frame, 1)}
	c.mu.Lock()
	c.waiter = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.waiter == w {
			c.waiter = nil
		}
		c.mu.Unlock()
	}()
	c.log.Debug("mailbox: tx", "type", typ)
	if err := ctx.Err(); err != nil {
		return frame{}, err
	}
	// coder/websocket closes the whole connection when a write's context
	// ends; one caller giving up must not hang up on everyone else.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	err = c.conn.Write(wctx, websocket.MessageText, data)
	cancel()
	if err != nil {
		// coder/websocket has closed the connection: say so at once, so
		// the caller sees a dead connection (Err), not just a failed write.
		err = fmt.Errorf("send %s to relay: %w", typ, err)
		c.finish(err)
		c.conn.CloseNow()
		return frame{}, err
	}
	// Once the frame is out, the command has happened whatever the caller's
	// context says: wait for its answer so that, say, a numbered phase is
	// never reported unsent after the relay took it.
	timeout := time.NewTimer(writeTimeout)
	defer timeout.Stop()
	var f frame
	select {
	case f = <-w.result:
	case <-c.done:
		select { // an answer that arrived just before the hang-up still counts
		case f = <-w.result:
		default:
			return frame{}, c.Err()
		}
	case <-timeout.C:
		// A relay that answers nothing for that long is gone (a half-open
		// connection): hang up, so the caller can redial.
		err := fmt.Errorf("relay did not answer %s within %v", typ, writeTimeout)
		c.finish(err)
		c.conn.CloseNow()
		return frame{}, err
	}
	if f.Type == "error" {
		return frame{}, &ServerError{Msg: f.Error}
	}
	return f, nil
}

// Bind tells the server who we are; it must come first. When the
// welcome required permission, Bind first earns it (see permission).
func (c *Client) Bind(ctx context.Context, appID, side string, clientVersion [2]string) error {
	if err := c.submitPermission(ctx); err != nil {
		return err
	}
	_, err := c.command(ctx, "bind", "", map[string]any{
		"appid": appID, "side": side, "client_version": clientVersion[:],
	})
	if err != nil {
		return fmt.Errorf("bind to relay: %w", err)
	}
	return nil
}

// Allocate asks the server for a free nameplate (which it also claims for us).
func (c *Client) Allocate(ctx context.Context) (string, error) {
	f, err := c.command(ctx, "allocate", "allocated", nil)
	if err != nil {
		return "", fmt.Errorf("allocate nameplate: %w", err)
	}
	if !ValidNameplate(f.Nameplate) {
		return "", fmt.Errorf("allocate nameplate: relay returned invalid nameplate %q", f.Nameplate)
	}
	return f.Nameplate, nil
}

// Claim claims a nameplate and returns the id of its mailbox.
func (c *Client) Claim(ctx context.Context, nameplate string) (string, error) {
	f, err := c.command(ctx, "claim", "claimed", map[string]any{"nameplate": nameplate})
	if err != nil {
		return "", fmt.Errorf("claim nameplate %s: %w", nameplate, err)
	}
	if f.Mailbox == "" || len(f.Mailbox) > 256 {
		return "", fmt.Errorf("claim nameplate %s: relay returned invalid mailbox id", nameplate)
	}
	return f.Mailbox, nil
}

// Release gives a claimed nameplate back.
func (c *Client) Release(ctx context.Context, nameplate string) error {
	if _, err := c.command(ctx, "release", "released", map[string]any{"nameplate": nameplate}); err != nil {
		return fmt.Errorf("release nameplate %s: %w", nameplate, err)
	}
	return nil
}

// Open subscribes to a mailbox: its messages, past and future, arrive via Next.
func (c *Client) Open(ctx context.Context, mailbox string) error {
	if _, err := c.command(ctx, "open", "", map[string]any{"mailbox": mailbox}); err != nil {
		return fmt.Errorf("open mailbox: %w", err)
	}
	return nil
}

// Add posts a message to the open mailbox.
func (c *Client) Add(ctx context.Context, phase string, body []byte) error {
	if _, err := c.command(ctx, "add", "", map[string]any{"phase": phase, "body": hex.EncodeToString(body)}); err != nil {
		return fmt.Errorf("send %s message: %w", phase, err)
	}
	return nil
}

// List returns the nameplates the server knows for our appid.
func (c *Client) List(ctx context.Context) ([]string, error) {
	f, err := c.command(ctx, "list", "nameplates", nil)
	if err != nil {
		return nil, fmt.Errorf("list nameplates: %w", err)
	}
	ids := make([]string, 0, len(f.Names))
	for _, n := range f.Names {
		ids = append(ids, n.ID)
	}
	return ids, nil
}

// CloseMailbox closes the mailbox with a mood and waits for the server.
func (c *Client) CloseMailbox(ctx context.Context, mailbox string, mood Mood) error {
	if _, err := c.command(ctx, "close", "closed", map[string]any{"mailbox": mailbox, "mood": string(mood)}); err != nil {
		return fmt.Errorf("close mailbox: %w", err)
	}
	return nil
}

// Ping checks that the server is alive.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.command(ctx, "ping", "pong", map[string]any{"ping": time.Now().Unix() % 1000})
	return err
}

// Sync waits until the server has answered everything sent before it (a
// ping: servers answer in order) and returns a copy of the messages
// queued for Next by then, which stay queued. Called right after Open, it
// returns what the mailbox held: servers replay a mailbox's messages when
// it is opened, before they answer the next command.
func (c *Client) Sync(ctx context.Context) ([]Message, error) {
	if err := c.Ping(ctx); err != nil {
		return nil, fmt.Errorf("sync with relay: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.queue...), nil
}

// Next returns the next mailbox message (ours included), in server order.
func (c *Client) Next(ctx context.Context) (Message, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			// drain what arrived before the end
			c.mu.Lock()
			n := len(c.queue)
			c.mu.Unlock()
			if n == 0 {
				return Message{}, c.Err()
			}
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// ValidNameplate reports whether s is a nameplate as servers issue them:
// 1 to 40 ASCII digits.
func ValidNameplate(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
