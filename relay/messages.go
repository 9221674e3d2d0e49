package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// maxTokenLen bounds app ids, sides, mailbox ids and phases. Real clients
// use a few dozen bytes at most; the frame limit bounds bodies.
const maxTokenLen = 256

// maxNameplateLen is the longest nameplate a client may claim.
const maxNameplateLen = 40

// clientError is a problem with a client's command. Its text is sent to the
// client in an "error" message, so it uses the reference server's wording
// where one exists.
type clientError string

func (e clientError) Error() string { return string(e) }

const (
	errCrowded   clientError = "crowded"
	errReclaimed clientError = "reclaimed"
)

// fields is one decoded client message: a JSON object with its values
// left raw so that each handler can check the types it needs.
type fields map[string]json.RawMessage

// parseFrame decodes one websocket frame. It returns the object's fields,
// the value to echo as "orig" in an error reply, and a clientError if the
// frame is not a JSON object.
func parseFrame(frame []byte) (fields, json.RawMessage, error) {
	if !utf8.Valid(frame) {
		// Invalid bytes can only sit inside JSON strings; replacing them
		// keeps valid JSON valid and keeps the echo (and stored bodies)
		// safe to send in a text frame.
		frame = bytes.ToValidUTF8(frame, []byte("\uFFFD"))
	}
	if !json.Valid(frame) {
		return nil, nil, clientError("message is not valid JSON")
	}
	orig := json.RawMessage(frame)
	if trimmed := bytes.TrimLeft(frame, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, orig, clientError("message is not a JSON object")
	}
	var f fields
	if err := json.Unmarshal(frame, &f); err != nil {
		return nil, orig, clientError("message is not a JSON object")
	}
	return f, orig, nil
}

// has reports whether the message has key, whatever its value.
func (f fields) has(key string) bool {
	_, ok := f[key]
	return ok
}

// str returns the string value of key and whether key is present. A
// present value that is not a string (including null) is a clientError.
func (f fields) str(key string) (string, bool, error) {
	raw, ok := f[key]
	if !ok {
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, clientError(fmt.Sprintf("'%s' must be a string", key))
	}
	return s, true, nil
}

// token returns the required string key, checking that it is non-empty and
// at most maxTokenLen bytes. missing is the error when key is absent.
func (f fields) token(key string, missing clientError) (string, error) {
	s, ok, err := f.str(key)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", missing
	case s == "" || len(s) > maxTokenLen:
		return "", clientError(fmt.Sprintf("'%s' must be 1 to %d bytes long", key, maxTokenLen))
	}
	return s, nil
}

// validNameplate reports whether name is 1 to maxNameplateLen ASCII digits.
func validNameplate(name string) bool {
	if name == "" || len(name) > maxNameplateLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// unixSeconds is the protocol's timestamp format: float seconds since the epoch.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// Outbound messages. Every one carries "type" and "server_tx".

type header struct {
	Type     string  `json:"type"`
	ServerTX float64 `json:"server_tx"`
}

func newHeader(typ string, now time.Time) header {
	return header{Type: typ, ServerTX: unixSeconds(now)}
}

// welcomeInfo must never carry an "error" key unless the server means to
// turn every client away: Python clients treat its presence as fatal.
type welcomeInfo struct {
	MOTD string `json:"motd,omitempty"`
	// Page is where ferry's browser client is served (ferry clients
	// offer it as a link; classic clients ignore the key).
	Page string `json:"ferry_page,omitempty"`
	// Transit and STUN are this node's own transit relay ("tcp:HOST:PORT")
	// and STUN server ("stun:HOST:PORT"), which ferry clients use when
	// their users chose none (Config.Transit, Config.STUN).
	Transit string `json:"ferry_transit,omitempty"`
	STUN    string `json:"ferry_stun,omitempty"`
	// YourAddress is the client's address and port as the server saw
	// them (magic-wormhole-mailbox-server 0.8).
	YourAddress *yourAddress `json:"your-address,omitempty"`
	// Permission is what the client must submit before bind, if anything.
	Permission *permissionRequired `json:"permission-required,omitempty"`
}

type welcomeMsg struct {
	header
	Welcome welcomeInfo `json:"welcome"`
}

type ackMsg struct {
	header
	ID json.RawMessage `json:"id"` // null when the command had no id
}

type errorMsg struct {
	header
	Error string          `json:"error"`
	Orig  json.RawMessage `json:"orig"`
}

type pongMsg struct {
	header
	Pong json.RawMessage `json:"pong"`
}

type nameplateID struct {
	ID string `json:"id"`
}

type nameplatesMsg struct {
	header
	Nameplates []nameplateID `json:"nameplates"`
}

type allocatedMsg struct {
	header
	Nameplate string `json:"nameplate"`
}

type claimedMsg struct {
	header
	Mailbox string `json:"mailbox"`
}

type mailboxMsg struct {
	header
	Side     string          `json:"side"`
	Phase    string          `json:"phase"`
	Body     string          `json:"body"`
	ServerRX float64         `json:"server_rx"`
	ID       json.RawMessage `json:"id"`
}

func newMailboxMsg(m message, now time.Time) mailboxMsg {
	return mailboxMsg{
		header:   newHeader("message", now),
		Side:     m.Side,
		Phase:    m.Phase,
		Body:     m.Body,
		ServerRX: m.ServerRX,
		ID:       m.ID,
	}
}

// encode marshals an outbound message. The values are built by this
// package from valid JSON, so a failure is a bug; it is reported rather
// than sent. It does not escape <, > and & (as json.Marshal does, six
// bytes for one): echoed values and stored bodies come out no longer than
// they went in, but for invalid UTF-8 and U+2028/U+2029 (twice at most).
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
