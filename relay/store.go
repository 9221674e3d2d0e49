package relay

import (
	"encoding/json"
	"errors"
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
	// Owner is the client that created it, for MaxNameplatesPerIP and
	// MaxNameplatesPerPrefix on relays that share a store; nil for
	// records from before it was kept.
	Owner *recordOwner `json:"owner,omitempty"`
}

// recordOwner is a client's address and network (a clientKey), as kept in
// a nameplate or mailbox record.
type recordOwner struct {
	Addr string `json:"addr"`
	Net  string `json:"net"`
}

// count adds m to the mailbox's counts: Messages, Bytes, and Stored for
// its adder.
func (mb *mailbox) count(m message) {
	size := m.size()
	mb.Messages++
	mb.Bytes += size
	if m.adder != nil {
		if mb.Stored == nil {
			mb.Stored = map[string]int64{}
		}
		mb.Stored["a:"+m.adder.Addr] += size + storedMessageOverhead
		mb.Stored["n:"+m.adder.Net] += size + storedMessageOverhead
	}
}

func ownerOf(k clientKey) *recordOwner { return &recordOwner{Addr: k.addr, Net: k.prefix} }

func (o *recordOwner) key() clientKey { return clientKey{addr: o.Addr, prefix: o.Net} }

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
	// Heard is, where relays share the store, when a relay last saw a
	// connection listening to the mailbox (refreshed by its pruning), so
	// that the others do not prune it as unheard.
	Heard time.Time `json:"heard,omitzero"`
	// Messages and Bytes count what was added, for the per-mailbox limits.
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// Owner is the client that created it by opening an unknown id (not
	// by claiming a nameplate), as for a nameplate.
	Owner *recordOwner `json:"owner,omitempty"`
	// Stored counts the cost (size plus storedMessageOverhead) of the
	// messages each client added, by "a:ADDRESS" and "n:NETWORK", for
	// MaxStoredBytesPerIP and MaxStoredBytesPerPrefix on relays that share
	// a store.
	Stored map[string]int64 `json:"stored,omitempty"`
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
	// adder is the client that added it, counted in the mailbox's Stored
	// (not part of the message as stored or sent).
	adder *recordOwner
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

// change is what an update function decides for the record it was given.
type change int

const (
	keep change = iota // leave the record as it is
	put                // write the record as the function left it
	drop               // delete the record (a mailbox: with its messages)
)

// errNoMailbox is what appendMessage returns for a mailbox that does not exist.
var errNoMailbox = errors.New("no such mailbox")

// store keeps nameplates, mailboxes and messages. Records are passed by
// value: a store never keeps a reference to a caller's map.
//
// Every method is safe for concurrent use, also by several relays sharing
// one store (natsStore): createNameplate, updateNameplate, updateMailbox
// and appendMessage are atomic per record, so that two nodes can never
// hand out the same nameplate or let a mailbox exceed its limits. Reads
// (and the counts) may lag a write made elsewhere by a moment; every
// decision that matters is re-made inside an update function, on the
// record as it is.
type store interface {
	// nameplate returns the nameplate name of app, and whether it exists.
	nameplate(app, name string) (nameplate, bool, error)
	// nameplateNames returns the names of all nameplates of app.
	nameplateNames(app string) ([]string, error)
	// nameplates returns every nameplate of every app.
	nameplates() ([]nameplate, error)
	// putNameplate creates or replaces a nameplate.
	putNameplate(np nameplate) error
	// createNameplate stores np unless app already has a nameplate of
	// that name; it reports whether it stored it.
	createNameplate(np nameplate) (bool, error)
	// updateNameplate calls fn with the nameplate name of app (zero
	// but for App and Name, and exists false, when there is none) and
	// does what fn returns, atomically: when another writer changed the
	// record in between, fn runs again on what it wrote. fn's error is
	// returned as is, with nothing written. fn must not call the store.
	updateNameplate(app, name string, fn func(np *nameplate, exists bool) (change, error)) error
	// deleteNameplate removes a nameplate; removing a missing one is no error.
	deleteNameplate(app, name string) error

	// mailbox returns the mailbox id of app, and whether it exists.
	mailbox(app, id string) (mailbox, bool, error)
	// mailboxes returns every mailbox of every app.
	mailboxes() ([]mailbox, error)
	// putMailbox creates or replaces a mailbox's metadata, keeping its messages.
	putMailbox(mb mailbox) error
	// updateMailbox is updateNameplate for a mailbox's metadata; drop
	// deletes the mailbox with its messages.
	updateMailbox(app, id string, fn func(mb *mailbox, exists bool) (change, error)) error
	// deleteMailbox removes a mailbox and its messages.
	deleteMailbox(app, id string) error
	// appendMessage adds m to an existing mailbox (else errNoMailbox),
	// counts it in the mailbox's Messages and Bytes, and sets its Updated
	// to when, if check (which may be nil) accepts the mailbox as it is
	// before the message; check's error is returned as is. Every
	// listener of the mailbox, on any node, then gets m.
	appendMessage(app, id string, m message, when time.Time, check func(mailbox) error) error
	// messages returns a mailbox's messages in the order they were added.
	messages(app, id string) ([]message, error)
	// listen calls deliver with every message of a mailbox, those it
	// holds first and then each one added, on any node, in the order they
	// were added (the same for every listener), until stop is called.
	// deliver must not block. A local store delivers what it holds
	// before listen returns, and each added message before appendMessage
	// returns.
	listen(app, id string, deliver func(message)) (stop func(), err error)

	// counts returns how many nameplates and mailboxes exist in all apps.
	counts() (nameplates, mailboxes int)
	// shared reports whether other relays use the store too.
	shared() bool
	// owned counts the nameplates, and the mailboxes opened without one,
	// that client who created, per address and per network, over every
	// relay sharing the store; ok is false for a store no other relay
	// uses (the state counts its own then).
	owned(who clientKey) (perAddr, perNet int64, ok bool)
	// stored sums what the mailboxes hold (storedCost) and what client
	// who added to them, by address and by network, over every relay
	// sharing the store; ok is false for a store no other relay uses.
	stored(who clientKey) (total, perAddr, perNet int64, ok bool)
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
