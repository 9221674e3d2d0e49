package relay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// boltFile is the database file boltStore keeps in Config.DataDir.
const boltFile = "relay.db"

// boltSchema is the layout version written to the meta bucket.
const boltSchema = "1"

// Bucket names, and the meta bucket's key for the schema version.
const (
	bucketMeta       = "meta"
	bucketNameplates = "nameplates"
	bucketMailboxes  = "mailboxes"
	bucketMessages   = "messages"
	keySchema        = "schema"
)

// boltStore keeps the relay's state in a bbolt database so that it
// survives a restart.
//
// Keys are built by recordKeyBytes: each part is prefixed with its length
// (a uvarint), so a key never depends on which bytes an app id or a
// nameplate contains, and the key of (app) is a prefix of exactly the keys
// of that app's records. Nameplates and mailboxes hold JSON records;
// messages are keyed by their mailbox's key plus an 8-byte sequence number.
//
// Every write is its own transaction, synced to disk before it returns.
// The server applies commands one at a time, so the disk's sync latency
// bounds its command rate; that is ample for a rendezvous server.
type boltStore struct {
	db *bolt.DB
	// mu orders writes with listen, and guards the counts.
	mu    sync.Mutex
	nNps  int
	nMbxs int
	feed  *feed
}

// openBoltStore opens (creating if needed) dir/relay.db. dir is created
// with mode 0700 if it does not exist.
func openBoltStore(dir string) (*boltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, boltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &boltStore{db: db, feed: newFeed()}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
		if err != nil {
			return err
		}
		switch v := meta.Get([]byte(keySchema)); {
		case v == nil:
			if err := meta.Put([]byte(keySchema), []byte(boltSchema)); err != nil {
				return err
			}
		case string(v) != boltSchema:
			return fmt.Errorf("unsupported schema version %q (want %q)", v, boltSchema)
		}
		for _, name := range []string{bucketNameplates, bucketMailboxes, bucketMessages} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		s.nNps = tx.Bucket([]byte(bucketNameplates)).Stats().KeyN
		s.nMbxs = tx.Bucket([]byte(bucketMailboxes)).Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialize %s: %w", path, err)
	}
	return s, nil
}

// recordKeyBytes encodes parts as length-prefixed strings.
func recordKeyBytes(parts ...string) []byte {
	var k []byte
	for _, p := range parts {
		k = binary.AppendUvarint(k, uint64(len(p)))
		k = append(k, p...)
	}
	return k
}

// splitRecordKey decodes a key built by recordKeyBytes from two parts.
func splitRecordKey(k []byte) (app, name string, err error) {
	var parts [2]string
	for i := range parts {
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n {
			return "", "", errors.New("malformed record key")
		}
		parts[i] = string(k[w : w+int(n)])
		k = k[w+int(n):]
	}
	if len(k) != 0 {
		return "", "", errors.New("malformed record key")
	}
	return parts[0], parts[1], nil
}

func (s *boltStore) nameplate(app, name string) (np nameplate, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketNameplates)).Get(recordKeyBytes(app, name))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &np)
	})
	if err != nil {
		return nameplate{}, false, fmt.Errorf("read nameplate %q: %w", name, err)
	}
	np.App, np.Name, np.Sides = app, name, cloneSides(np.Sides)
	return np, ok, nil
}

func (s *boltStore) nameplateNames(app string) ([]string, error) {
	var names []string
	prefix := recordKeyBytes(app)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketNameplates)).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			_, name, err := splitRecordKey(k)
			if err != nil {
				return err
			}
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list nameplates: %w", err)
	}
	return names, nil
}

func (s *boltStore) nameplates() ([]nameplate, error) {
	var out []nameplate
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketNameplates)).ForEach(func(k, v []byte) error {
			var np nameplate
			var err error
			if np.App, np.Name, err = splitRecordKey(k); err != nil {
				return err
			}
			if err := json.Unmarshal(v, &np); err != nil {
				return err
			}
			np.Sides = cloneSides(np.Sides)
			out = append(out, np)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read nameplates: %w", err)
	}
	return out, nil
}

func (s *boltStore) putNameplate(np nameplate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putNameplateLocked(np)
}

func (s *boltStore) putNameplateLocked(np nameplate) error {
	v, err := json.Marshal(np)
	if err != nil {
		return fmt.Errorf("encode nameplate %q: %w", np.Name, err)
	}
	created := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketNameplates))
		k := recordKeyBytes(np.App, np.Name)
		created = b.Get(k) == nil
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("write nameplate %q: %w", np.Name, err)
	}
	if created {
		s.nNps++
	}
	return nil
}

func (s *boltStore) deleteNameplate(app, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteNameplateLocked(app, name)
}

func (s *boltStore) deleteNameplateLocked(app, name string) error {
	existed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketNameplates))
		k := recordKeyBytes(app, name)
		existed = b.Get(k) != nil
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete nameplate %q: %w", name, err)
	}
	if existed {
		s.nNps--
	}
	return nil
}

func (s *boltStore) mailbox(app, id string) (mb mailbox, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketMailboxes)).Get(recordKeyBytes(app, id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &mb)
	})
	if err != nil {
		return mailbox{}, false, fmt.Errorf("read mailbox %q: %w", id, err)
	}
	mb.App, mb.ID, mb.Sides = app, id, cloneSides(mb.Sides)
	return mb, ok, nil
}

func (s *boltStore) mailboxes() ([]mailbox, error) {
	var out []mailbox
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMailboxes)).ForEach(func(k, v []byte) error {
			var mb mailbox
			var err error
			if mb.App, mb.ID, err = splitRecordKey(k); err != nil {
				return err
			}
			if err := json.Unmarshal(v, &mb); err != nil {
				return err
			}
			mb.Sides = cloneSides(mb.Sides)
			out = append(out, mb)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read mailboxes: %w", err)
	}
	return out, nil
}

func (s *boltStore) putMailbox(mb mailbox) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putMailboxLocked(mb)
}

func (s *boltStore) putMailboxLocked(mb mailbox) error {
	v, err := json.Marshal(mb)
	if err != nil {
		return fmt.Errorf("encode mailbox %q: %w", mb.ID, err)
	}
	created := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketMailboxes))
		k := recordKeyBytes(mb.App, mb.ID)
		created = b.Get(k) == nil
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("write mailbox %q: %w", mb.ID, err)
	}
	if created {
		s.nMbxs++
	}
	return nil
}

func (s *boltStore) deleteMailbox(app, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteMailboxLocked(app, id)
}

func (s *boltStore) deleteMailboxLocked(app, id string) error {
	existed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketMailboxes))
		k := recordKeyBytes(app, id)
		existed = b.Get(k) != nil
		if err := b.Delete(k); err != nil {
			return err
		}
		// Collect first: deleting under a moving cursor skips keys.
		msgs := tx.Bucket([]byte(bucketMessages))
		var doomed [][]byte
		c := msgs.Cursor()
		for mk, _ := c.Seek(k); mk != nil && bytes.HasPrefix(mk, k); mk, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(mk))
		}
		for _, mk := range doomed {
			if err := msgs.Delete(mk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", id, err)
	}
	if existed {
		s.nMbxs--
	}
	return nil
}

func (s *boltStore) appendMessage(app, id string, m message, when time.Time, check func(mailbox) error) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var refused error
	err = s.db.Update(func(tx *bolt.Tx) error {
		mbs := tx.Bucket([]byte(bucketMailboxes))
		k := recordKeyBytes(app, id)
		raw := mbs.Get(k)
		if raw == nil {
			refused = errNoMailbox
			return nil
		}
		var mb mailbox
		if err := json.Unmarshal(raw, &mb); err != nil {
			return err
		}
		if check != nil {
			mb.App, mb.ID = app, id
			if refused = check(mb); refused != nil {
				return nil
			}
		}
		mk := binary.BigEndian.AppendUint64(bytes.Clone(k), uint64(mb.Messages))
		if err := tx.Bucket([]byte(bucketMessages)).Put(mk, v); err != nil {
			return err
		}
		mb.count(m)
		mb.Updated = when
		enc, err := json.Marshal(mb)
		if err != nil {
			return err
		}
		return mbs.Put(k, enc)
	})
	if err != nil {
		return fmt.Errorf("append to mailbox %q: %w", id, err)
	}
	if refused != nil {
		return refused
	}
	s.feed.publish(recordKey{app, id}, m)
	return nil
}

func (s *boltStore) listen(app, id string, deliver func(message)) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held, err := s.messages(app, id)
	if err != nil {
		return nil, err
	}
	return s.feed.listen(recordKey{app, id}, held, deliver), nil
}

func (s *boltStore) createNameplate(np nameplate) (bool, error) {
	created := false
	err := s.updateNameplate(np.App, np.Name, func(cur *nameplate, exists bool) (change, error) {
		if exists {
			return keep, nil
		}
		created = true
		*cur = np
		return put, nil
	})
	return created, err
}

func (s *boltStore) updateNameplate(app, name string, fn func(*nameplate, bool) (change, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	np, ok, err := s.nameplate(app, name)
	if err != nil {
		return err
	}
	ch, err := fn(&np, ok)
	if err != nil {
		return err
	}
	np.App, np.Name = app, name
	switch {
	case ch == put:
		return s.putNameplateLocked(np)
	case ch == drop && ok:
		return s.deleteNameplateLocked(app, name)
	}
	return nil
}

func (s *boltStore) updateMailbox(app, id string, fn func(*mailbox, bool) (change, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, ok, err := s.mailbox(app, id)
	if err != nil {
		return err
	}
	ch, err := fn(&mb, ok)
	if err != nil {
		return err
	}
	mb.App, mb.ID = app, id
	switch {
	case ch == put:
		return s.putMailboxLocked(mb)
	case ch == drop && ok:
		return s.deleteMailboxLocked(app, id)
	}
	return nil
}

func (s *boltStore) messages(app, id string) ([]message, error) {
	var out []message
	prefix := recordKeyBytes(app, id)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketMessages)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var m message
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read messages of mailbox %q: %w", id, err)
	}
	return out, nil
}

func (s *boltStore) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nNps, s.nMbxs
}

func (s *boltStore) shared() bool { return false }

func (s *boltStore) owned(clientKey) (int64, int64, bool) { return 0, 0, false }

func (s *boltStore) stored(clientKey) (int64, int64, int64, bool) { return 0, 0, 0, false }

func (s *boltStore) close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close relay database: %w", err)
	}
	return nil
}
