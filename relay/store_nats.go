package relay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig makes a relay keep nameplates, mailboxes and messages in NATS
// JetStream, which every relay configured with the same NATS (and Prefix)
// shares: a client may then use any of them, and the two sides of a
// wormhole may use different ones.
//
// What is global and what is per relay: the limits kept in the shared
// records hold across relays (MaxNameplates, MaxMailboxes, and a
// mailbox's MaxMessagesPerMailbox and MaxMailboxBytes, counted in its
// record, which every add updates with a revision check), and so do the
// limits on clients: the nameplates one address created
// (MaxNameplatesPerIP and PerPrefix, from the records' owners), the
// bytes it stored (MaxStoredBytes*, from the mailboxes' counts) and its
// connections (MaxConnsPerIP and PerPrefix, from the live counts every
// relay publishes in PREFIX_conns; see connShare for the moment they
// lag). MaxConns stays each relay's own: it protects its own sockets.
type NATSConfig struct {
	// URLs are the NATS servers to connect to (nats://HOST:4222).
	URLs []string
	// Server, if not nil, is a server running in this process
	// (StartNATS), reached without a socket; URLs are then not used.
	Server *NATSServer
	// Replicas is how many servers keep each record and message (1 to 5;
	// default 1). A cluster of three should use 3, so that it survives
	// the loss of one.
	Replicas int
	// Prefix names the JetStream buckets and stream (PREFIX_nameplates,
	// PREFIX_mailboxes, PREFIX_messages, subjects PREFIX.mbox.>), so that
	// unrelated relay groups can share one NATS. Default "ferry".
	Prefix string
	// MaxAge is a backstop: a record nobody wrote, and a message, for
	// that long expire in JetStream (KV TTL, stream MaxAge) even if no
	// relay is running to prune them. Pruning (Config.PruneAge and
	// PruneUnpairedAge) deletes idle state much sooner. Default 24h, and
	// at least 4 times PruneAge.
	MaxAge time.Duration
	// ConnsTTL is how long a relay's published connection counts
	// (for MaxConnsPerIP and MaxConnsPerPrefix over all relays) outlive
	// their last write: a relay rewrites them every quarter of it, so a
	// relay that dies stops counting after ConnsTTL. The relay that
	// creates the bucket PREFIX_conns sets it; the others take the
	// bucket's. Default 10s, at least 1s.
	ConnsTTL time.Duration
	// Timeout bounds each request to JetStream, retries included, while
	// the cluster elects a new leader after losing the node that led:
	// NATS's raft waits 4 to 9 s before it campaigns, and the meta group
	// and then a stream may each need an election. Default 30s (10s gave
	// TestNATSCluster/one_node_stopped an "internal server error" on a
	// loaded machine).
	Timeout time.Duration
	// StartTimeout bounds connecting and creating the buckets and the
	// stream at start-up, while a cluster may still be electing its
	// leader. Default 30s.
	StartTimeout time.Duration
}

// natsStore keeps the state in JetStream: nameplates and mailboxes (their
// metadata) as JSON records in two KV buckets, keyed by natsKey, every
// change revision-checked; each mailbox's messages in one stream, on the
// subject PREFIX.mbox.KEY, read back with a request per message and
// followed by the relay's one ordered consumer of the stream (natsTail). An index of each bucket, fed by a watcher, answers the
// lists and counts without a request. A third bucket, PREFIX_conns, in
// memory, holds each relay's live connection counts, which the Server
// shares through it (connShare).
type natsStore struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	nps      jetstream.KeyValue
	mbs      jetstream.KeyValue
	conns    jetstream.KeyValue // every relay's live connection counts (connShare)
	connsTTL time.Duration      // conns's TTL, whichever relay created it
	msgs     jetstream.Stream
	subject  string // PREFIX.mbox
	npIdx    *kvIndex
	mbIdx    *kvIndex
	tail     *natsTail // every mailbox's new messages, for this relay's listeners
	timeout  time.Duration
	log      *slog.Logger
	stop     context.CancelFunc // stops the watchers
	// life bounds every request (do): abandon ends it, and with it the
	// requests still waiting for a cluster that lost its quorum, when the
	// relay shuts down.
	life    context.Context
	abandon context.CancelFunc
}

// openNATSStore connects to JetStream and creates what is missing, for
// at most StartTimeout and until ctx ends. maxMessageBytes bounds one
// stored message.
func openNATSStore(ctx context.Context, cfg NATSConfig, pruneAge time.Duration, maxMessageBytes int64, log *slog.Logger) (*natsStore, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "ferry"
	}
	if !validNATSName(cfg.Prefix) {
		return nil, fmt.Errorf("NATS prefix %q: want letters, digits, - and _", cfg.Prefix)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return nil, fmt.Errorf("NATS replicas %d: want 1 to 5", cfg.Replicas)
	}
	orDefault(&cfg.MaxAge, max(24*time.Hour, 4*pruneAge))
	cfg.MaxAge = max(cfg.MaxAge, 4*pruneAge)
	orDefault(&cfg.Timeout, 30*time.Second)
	orDefault(&cfg.ConnsTTL, defaultConnsTTL)
	cfg.ConnsTTL = max(cfg.ConnsTTL, time.Second)
	orDefault(&cfg.StartTimeout, 30*time.Second)
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	opts := []nats.Option{nats.Name("ferry relay"), nats.MaxReconnects(-1)}
	var (
		nc  *nats.Conn
		err error
	)
	switch {
	case cfg.Server != nil:
		if cfg.Server.token != "" {
			opts = append(opts, nats.Token(cfg.Server.token))
		}
		nc, err = nats.Connect("", append(opts, nats.InProcessServer(cfg.Server.ns))...)
	case len(cfg.URLs) > 0:
		nc, err = nats.Connect(strings.Join(cfg.URLs, ","), append(opts, nats.RetryOnFailedConnect(false))...)
	default:
		return nil, errors.New("NATS: no server (URLs or Server)")
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	life, abandon := context.WithCancel(context.Background())
	s := &natsStore{nc: nc, subject: cfg.Prefix + ".mbox", timeout: cfg.Timeout, log: log, life: life, abandon: abandon}
	if err := s.setUp(ctx, cfg, maxMessageBytes); err != nil {
		abandon()
		nc.Close()
		return nil, err
	}
	return s, nil
}

func (s *natsStore) setUp(ctx context.Context, cfg NATSConfig, maxMessageBytes int64) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("NATS JetStream: %w", err)
	}
	s.js = js
	// A cluster that is just starting answers "temporarily unavailable"
	// until it has a leader: try again until StartTimeout.
	err = retryStart(ctx, func() error {
		// A server without a leader may not answer at all: each
		// attempt gets a few seconds.
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var err error
		if s.nps, err = openBucket(ctx, js, cfg, cfg.Prefix+"_nameplates"); err != nil {
			return err
		}
		if s.mbs, err = openBucket(ctx, js, cfg, cfg.Prefix+"_mailboxes"); err != nil {
			return err
		}
		if s.conns, s.connsTTL, err = openConnsBucket(ctx, js, cfg); err != nil {
			return err
		}
		s.msgs, err = openStream(ctx, js, jetstream.StreamConfig{
			Name:        cfg.Prefix + "_messages",
			Description: "ferry relay: the messages of each mailbox, a subject per mailbox",
			Subjects:    []string{s.subject + ".>"},
			MaxAge:      cfg.MaxAge,
			MaxMsgSize:  int32(min(maxMessageBytes, 1<<30)),
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			Discard:     jetstream.DiscardOld,
		})
		return startRace(err)
	})
	if err != nil {
		return fmt.Errorf("NATS JetStream set-up: %w", err)
	}
	wctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.npIdx, err = watchIndex(ctx, wctx, s.nps, s.log); err != nil {
		stop()
		return err
	}
	if s.mbIdx, err = watchIndex(ctx, wctx, s.mbs, s.log); err != nil {
		stop()
		return err
	}
	err = retryStart(ctx, func() (err error) {
		s.tail, err = startTail(ctx, s.msgs, s.subject+".>", s.log)
		return err
	})
	if err != nil {
		stop()
		return fmt.Errorf("follow NATS messages: %w", err)
	}
	return nil
}

// errStartRace marks an error that another node starting at the same
// time explains.
type errStartRace struct{ error }

func (e errStartRace) Unwrap() error { return e.error }

// startRace marks "stream not found", which a node gets when another
// created the bucket or stream a moment ago and the cluster does not
// know it everywhere yet (seen once in a few starts of three nodes at once).
func startRace(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound {
		return errStartRace{err}
	}
	return err
}

// ErrNATSUnavailable: JetStream kept answering that it is not ready (no
// leader yet, buckets not known yet) until the start's time ran out. A
// new cluster elects its first leader only once all its nodes are up.
var ErrNATSUnavailable = errors.New("NATS JetStream did not become available")

// retryStart calls f until it succeeds, fails for good, or ctx ends
// (then its error is ErrNATSUnavailable and f's last).
func retryStart(ctx context.Context, f func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		// A bucket or stream another relay has just created may not be
		// known yet to the server this one asks ("stream not found" right
		// after "bucket exists": TestNATSCluster failed on it once).
		var race errStartRace
		temporary := errors.As(err, &race) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
			errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.Code == 500 || apiErr.Code == 408 || apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound)
		if !temporary {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrNATSUnavailable, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrNATSUnavailable, err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// openBucket opens a KV bucket, creating it if needed. Its reads go to
// the stream's leader (AllowDirect off): a replica may answer a direct
// read with a value a moment old, and a decision made on it (release a
// side the record does not show yet) would be wrong.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg NATSConfig, name string) (jetstream.KeyValue, error) {
	_, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         name,
			Description:    "ferry relay state",
			History:        1,
			TTL:            cfg.MaxAge,
			Storage:        jetstream.FileStorage,
			Replicas:       cfg.Replicas,
			LimitMarkerTTL: time.Minute, // so that watchers see expiry
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			err = nil // another relay was first
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, err
	}
	if sc := st.CachedInfo().Config; sc.AllowDirect {
		sc.AllowDirect = false
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, err
		}
	}
	return js.KeyValue(ctx, name)
}

// defaultConnsTTL is NATSConfig.ConnsTTL's default.
const defaultConnsTTL = 10 * time.Second

// openConnsBucket opens the bucket of live connection counts, creating
// it if needed: in memory (the counts are live, a restart starts them
// over), one value per relay, expiring a TTL after its last write. It
// returns the bucket's TTL, which the relay that created it chose.
func openConnsBucket(ctx context.Context, js jetstream.JetStream, cfg NATSConfig) (jetstream.KeyValue, time.Duration, error) {
	name := cfg.Prefix + "_conns"
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         name,
			Description:    "ferry relay: each relay's live connections per client",
			History:        1,
			TTL:            cfg.ConnsTTL,
			MaxValueSize:   maxConnsEntryBytes,
			Storage:        jetstream.MemoryStorage,
			Replicas:       cfg.Replicas,
			LimitMarkerTTL: max(cfg.ConnsTTL, time.Second), // so that watchers see expiry
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, 0, err
	}
	ttl := st.TTL()
	if ttl <= 0 {
		// A bucket made by hand without one: entries never expire in
		// JetStream, but each relay's copy still drops them.
		ttl = cfg.ConnsTTL
	}
	return kv, ttl, nil
}

// openStream opens the stream, creating it if needed. An existing one is
// taken as it is: relays started with different replicas must not take
// turns rewriting it.
func openStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = js.Stream(ctx, cfg.Name)
		}
	}
	return st, err
}

// validNATSName accepts what may name a bucket or a stream and a subject token.
func validNATSName(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// natsKey is the KV key (and subject suffix) of a record: app ids,
// nameplates and mailbox ids may hold any character, so each is
// base64url-encoded, behind an x (so that an empty one is still a token).
func natsKey(app, name string) string {
	enc := base64.RawURLEncoding
	return "x" + enc.EncodeToString([]byte(app)) + ".x" + enc.EncodeToString([]byte(name))
}

// splitNATSKey decodes a key natsKey made.
func splitNATSKey(k string) (app, name string, err error) {
	a, n, ok := strings.Cut(k, ".")
	if !ok || !strings.HasPrefix(a, "x") || !strings.HasPrefix(n, "x") {
		return "", "", fmt.Errorf("malformed record key %q", k)
	}
	ab, err1 := base64.RawURLEncoding.DecodeString(a[1:])
	nb, err2 := base64.RawURLEncoding.DecodeString(n[1:])
	if err := errors.Join(err1, err2); err != nil {
		return "", "", fmt.Errorf("malformed record key %q: %w", k, err)
	}
	return string(ab), string(nb), nil
}

// do runs a request to JetStream, again while it fails for a reason
// that passes (a cluster electing a new leader after losing a server),
// each attempt bounded by a quarter of Timeout, all of them by Timeout,
// until the store is abandoned (abandonRequests).
func (s *natsStore) do(f func(ctx context.Context) error) error {
	if s.life.Err() != nil {
		return errAbandoned
	}
	ctx, cancel := context.WithTimeout(s.life, s.timeout)
	defer cancel()
	err := retryStart(ctx, func() error {
		actx, cancel := context.WithTimeout(ctx, s.timeout/4)
		defer cancel()
		return f(actx)
	})
	if err != nil && s.life.Err() != nil {
		return fmt.Errorf("%w (%w)", errAbandoned, err)
	}
	return err
}

// errAbandoned is a request the relay gave up at shutdown.
var errAbandoned = errors.New("NATS request abandoned: the relay is shutting down")

// abandonRequests makes every request to JetStream, running or to come,
// fail at once: at shutdown, when a cluster without its quorum would hold
// each for Timeout, one after the other (a relay with six clients
// waiting took 37 s to stop).
func (s *natsStore) abandonRequests() { s.abandon() }

// isConflict reports whether err says the record changed since it was read.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// get reads a record: its value and revision, or exists false.
func (s *natsStore) get(kv jetstream.KeyValue, key string) (val []byte, rev uint64, exists bool, err error) {
	var e jetstream.KeyValueEntry
	err = s.do(func(ctx context.Context) (err error) {
		e, err = kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	if err == nil && e == nil {
		err = jetstream.ErrKeyNotFound
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return e.Value(), e.Revision(), true, nil
}

// update is the read, decide, revision-checked write loop behind every
// update: fn gets the record's value (nil if none) and returns what to do
// and the new value. On a conflict it starts over.
func (s *natsStore) update(kv jetstream.KeyValue, idx *kvIndex, key string, fn func(val []byte, exists bool) (change, []byte, error)) error {
	for range maxAttempts {
		val, rev, exists, err := s.get(kv, key)
		if err != nil {
			return err
		}
		ch, nv, err := fn(val, exists)
		if err != nil {
			return err
		}
		if ch != put && (ch != drop || !exists) {
			return nil
		}
		var nrev uint64
		err = s.do(func(ctx context.Context) (err error) {
			switch {
			case ch == put && exists:
				nrev, err = kv.Update(ctx, key, nv, rev)
			case ch == put:
				nrev, err = kv.Create(ctx, key, nv)
			default:
				err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
			}
			return err
		})
		if isConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		if ch == put {
			idx.set(key, nrev, nv)
		} else {
			idx.remove(key, rev)
		}
		return nil
	}
	return errBusy
}

// set writes a record unconditionally.
func (s *natsStore) set(kv jetstream.KeyValue, idx *kvIndex, key string, val []byte) error {
	var rev uint64
	err := s.do(func(ctx context.Context) (err error) {
		rev, err = kv.Put(ctx, key, val)
		return err
	})
	if err != nil {
		return err
	}
	idx.set(key, rev, val)
	return nil
}
