package relay

import (
	"encoding/json"
	"maps"
	"time"
)

// nameplate is the stored state of one nameplate: the short number that
// starts a wormhole code and points at a mailbox.
type nameplate struct {
	App  string `json:"-"`
	Name string `json:"-"`
	// Mailbox is the id of the mailbox the nameplate points at.
	Mailbox string `json:"mailbox"`
	// Sides maps every side that claimed the nameplate to whether it
	// still claims it (false once it released it). A released side stays
	// recorded so that it cannot claim again ("reclaimed").
	Sides map[string]bool `json:"sides"`
	// Updated is when the nameplate was created or last claimed.
	Updated time.Time `json:"updated"`
}

// mailbox is the stored state of one mailbox, without its messages.
type mailbox struct {
	App string `json:"-"`
	ID  string `json:"-"`
	// ForNameplate is set when the mailbox was created by claiming a
	// nameplate rather than by opening an unknown mailbox id.
	ForNameplate bool `json:"for_nameplate"`
	// Sides maps every side that opened (or claimed a nameplate for) the
	// mailbox to whether it still has it open (false once it closed it).
	Sides map[string]bool `json:"sides"`
	// Updated is when a side last opened the mailbox or added to it, or
	// when pruning last saw a connection listening to it.
	Updated time.Time `json:"updated"`
	// Messages and Bytes count what was added, for the per-mailbox limits.
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
}

// message is one message added to a mailbox.
type message struct {
	Side     string  `json:"side"`
	Phase    string  `json:"phase"`
	Body     string  `json:"body"`
	ServerRX float64 `json:"server_rx"`
	// ID is the client's "id" for the add command, echoed verbatim (any
	// JSON value); nil when the client sent none.
	ID json.RawMessage `json:"id,omitempty"`
}

// size is what the message counts against Config.MaxMailboxBytes: its
// length as JSON, as frames carry it, so that the frames that deliver a
// mailbox's messages are bounded by what the mailbox holds (escaping can
// make a body six times longer than its text).
func (m message) size() int64 {
	b, err := encode(m)
	if err != nil {
		// The fields come from a decoded frame; this cannot happen.
		return int64(len(m.Side)+len(m.Phase)+len(m.ID)) + 6*int64(len(m.Body))
	}
	return int64(len(b))
}

// anyTrue reports whether any side in sides is still claiming or open.
func anyTrue(sides map[string]bool) bool {
	for _, v := range sides {
		if v {
			return true
		}
	}
	return false
}

// store keeps nameplates, mailboxes and messages. Records are passed by
// value: a store never keeps a reference to a caller's map. A store is not
// safe for concurrent use; the server serializes all calls.
type store interface {
	// nameplate returns the nameplate name of app, and whether it exists.
	nameplate(app, name string) (nameplate, bool, error)
	// nameplateNames returns the names of all nameplates of app.
	nameplateNames(app string) ([]string, error)
	// nameplates returns every nameplate of every app.
	nameplates() ([]nameplate, error)
	// putNameplate creates or replaces a nameplate.
	putNameplate(np nameplate) error
	// deleteNameplate removes a nameplate; removing a missing one is no error.
	deleteNameplate(app, name string) error

	// mailbox returns the mailbox id of app, and whether it exists.
	mailbox(app, id string) (mailbox, bool, error)
	// mailboxes returns every mailbox of every app.
	mailboxes() ([]mailbox, error)
	// putMailbox creates or replaces a mailbox's metadata, keeping its messages.
	putMailbox(mb mailbox) error
	// deleteMailbox removes a mailbox and its messages.
	deleteMailbox(app, id string) error
	// appendMessage adds m to an existing mailbox, counts it in the
	// mailbox's Messages and Bytes, and sets its Updated to when.
	appendMessage(app, id string, m message, when time.Time) error
	// messages returns a mailbox's messages in the order they were added.
	messages(app, id string) ([]message, error)

	// counts returns how many nameplates and mailboxes exist in all apps.
	counts() (nameplates, mailboxes int)
	// close releases the store's resources.
	close() error
}

// cloneSides copies a Sides map so that a store and its callers never share one.
func cloneSides(m map[string]bool) map[string]bool {
	if m == nil {
		return map[string]bool{}
	}
	return maps.Clone(m)
}
