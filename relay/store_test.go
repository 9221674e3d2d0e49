package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// testStore runs the same checks against every store implementation.
// reopen, if not nil, opens the store again after it was closed.
func testStore(t *testing.T, open func() store, reopen func() store) {
	t.Helper()
	when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := open()

	// Nameplates, with app ids that share prefixes.
	for _, np := range []nameplate{
		{App: "a", Name: "1", Mailbox: "m1", Sides: map[string]bool{"x": true}, Updated: when},
		{App: "a", Name: "12", Mailbox: "m12", Sides: map[string]bool{"x": true, "y": false}, Updated: when},
		{App: "ab", Name: "2", Mailbox: "m2", Updated: when},
		{App: "a\x01", Name: "3", Mailbox: "m3", Updated: when},
		{App: "", Name: "4", Mailbox: "m4", Updated: when},
	} {
		if err := st.putNameplate(np); err != nil {
			t.Fatal(err)
		}
	}
	for app, want := range map[string][]string{"a": {"1", "12"}, "ab": {"2"}, "a\x01": {"3"}, "": {"4"}, "b": nil} {
		got, err := st.nameplateNames(app)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("nameplateNames(%q) = %q, want %q", app, got, want)
		}
	}
	np, ok, err := st.nameplate("a", "12")
	if err != nil || !ok || np.Mailbox != "m12" || !np.Sides["x"] || np.Sides["y"] || len(np.Sides) != 2 || !np.Updated.Equal(when) {
		t.Fatalf("nameplate(a, 12) = %+v, %v, %v", np, ok, err)
	}
	np.Sides["z"] = true // must not leak into the store
	if np, _, _ := st.nameplate("a", "12"); len(np.Sides) != 2 {
		t.Errorf("store shares its Sides map with callers: %v", np.Sides)
	}
	if _, ok, _ := st.nameplate("a", "2"); ok {
		t.Error("nameplate of another app found")
	}
	if err := st.putNameplate(nameplate{App: "a", Name: "1", Mailbox: "m1b"}); err != nil {
		t.Fatal(err)
	}
	if nps, _ := st.counts(); nps != 5 {
		t.Errorf("%d nameplates counted, want 5", nps)
	}
	if err := st.deleteNameplate("ab", "2"); err != nil {
		t.Fatal(err)
	}
	if err := st.deleteNameplate("ab", "2"); err != nil {
		t.Fatalf("deleting a missing nameplate: %v", err)
	}
	all, err := st.nameplates()
	if err != nil || len(all) != 4 {
		t.Errorf("nameplates() = %d records, %v; want 4", len(all), err)
	}

	// Mailboxes and messages.
	for _, id := range []string{"m", "m2", "mm"} {
		if err := st.putMailbox(mailbox{App: "a", ID: id, Sides: map[string]bool{"x": true}, Updated: when}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.appendMessage("a", "nope", message{}, when, nil); !errors.Is(err, errNoMailbox) {
		t.Error("appended to a missing mailbox")
	}
	later := when.Add(time.Minute)
	msgs := []message{
		{Side: "x", Phase: "pake", Body: "00", ServerRX: 1.5, ID: json.RawMessage(`"ab12"`)},
		{Side: "y", Phase: "version", Body: "0102", ServerRX: 2.5},
		{Side: "x", Phase: "0", Body: "", ServerRX: 3.5, ID: json.RawMessage(`{"n":1}`)},
	}
	for _, m := range msgs {
		if err := st.appendMessage("a", "m", m, later, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.appendMessage("a", "mm", message{Side: "q", Phase: "p", Body: "ff"}, later, nil); err != nil {
		t.Fatal(err)
	}
	check := func(st store) {
		t.Helper()
		got, err := st.messages("a", "m")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(msgs) {
			t.Fatalf("messages(a, m) = %+v, want %+v", got, msgs)
		}
		for i := range got {
			if got[i].Side != msgs[i].Side || got[i].Phase != msgs[i].Phase || got[i].Body != msgs[i].Body ||
				got[i].ServerRX != msgs[i].ServerRX || string(got[i].ID) != string(msgs[i].ID) {
				t.Errorf("message %d = %+v, want %+v", i, got[i], msgs[i])
			}
		}
		mb, ok, err := st.mailbox("a", "m")
		if err != nil || !ok || mb.Messages != 3 || mb.Bytes != msgs[0].size()+msgs[1].size()+msgs[2].size() ||
			!mb.Updated.Equal(later) || !mb.Sides["x"] {
			t.Errorf("mailbox(a, m) = %+v, %v, %v", mb, ok, err)
		}
		if got, _ := st.messages("a", "m2"); len(got) != 0 {
			t.Errorf("messages of m leaked into m2: %+v", got)
		}
	}
	check(st)
	if reopen != nil {
		// After a restart: same contents, same counts.
		if err := st.close(); err != nil {
			t.Fatal(err)
		}
		st = reopen()
		check(st)
		if nps, mbs := st.counts(); nps != 4 || mbs != 3 {
			t.Errorf("counts after reopen = %d, %d; want 4, 3", nps, mbs)
		}
	}

	if err := st.deleteMailbox("a", "m"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.mailbox("a", "m"); ok {
		t.Error("deleted mailbox still exists")
	}
	if err := st.putMailbox(mailbox{App: "a", ID: "m", Sides: map[string]bool{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.messages("a", "m"); len(got) != 0 {
		t.Errorf("a re-created mailbox has old messages: %+v", got)
	}
	if got, _ := st.messages("a", "mm"); len(got) != 1 {
		t.Errorf("deleting m touched mm's messages: %+v", got)
	}
	if _, mbs := st.counts(); mbs != 3 {
		t.Errorf("%d mailboxes counted, want 3", mbs)
	}
	if mbs, err := st.mailboxes(); err != nil || len(mbs) != 3 {
		t.Errorf("mailboxes() = %d records, %v", len(mbs), err)
	}
	testStoreUpdates(t, st)
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
}

// testStoreUpdates checks the atomic operations, listening, and that
// they hold up under concurrent use.
func testStoreUpdates(t *testing.T, st store) {
	t.Helper()
	when := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	np := nameplate{App: "u", Name: "7", Mailbox: "m7", Sides: map[string]bool{"x": true}, Updated: when}
	if ok, err := st.createNameplate(np); err != nil || !ok {
		t.Fatalf("createNameplate = %v, %v", ok, err)
	}
	np.Mailbox = "other"
	if ok, err := st.createNameplate(np); err != nil || ok {
		t.Fatalf("createNameplate of an existing nameplate = %v, %v; want false", ok, err)
	}
	if got, _, _ := st.nameplate("u", "7"); got.Mailbox != "m7" {
		t.Errorf("a refused createNameplate replaced the nameplate: %+v", got)
	}
	err := st.updateNameplate("u", "7", func(np *nameplate, exists bool) (change, error) {
		if !exists || np.App != "u" || np.Name != "7" || !np.Sides["x"] {
			return keep, fmt.Errorf("updateNameplate got %+v, %v", np, exists)
		}
		np.Sides["y"] = true
		return put, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.nameplate("u", "7"); !got.Sides["y"] || got.Mailbox != "m7" {
		t.Errorf("after update: %+v", got)
	}
	refusal := errors.New("refused")
	if err := st.updateNameplate("u", "7", func(np *nameplate, _ bool) (change, error) {
		np.Mailbox = "changed"
		return put, refusal
	}); err != refusal {
		t.Errorf("updateNameplate returned %v, want fn's error", err)
	}
	if err := st.updateNameplate("u", "7", func(*nameplate, bool) (change, error) { return drop, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.nameplate("u", "7"); ok {
		t.Error("dropped nameplate still exists")
	}
	if err := st.updateNameplate("u", "8", func(np *nameplate, exists bool) (change, error) {
		if exists {
			return keep, errors.New("a missing nameplate exists")
		}
		return keep, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.nameplate("u", "8"); ok {
		t.Error("keep created a nameplate")
	}

	// A mailbox, its messages through listen, refused appends.
	if err := st.updateMailbox("u", "box", func(mb *mailbox, exists bool) (change, error) {
		if exists {
			return keep, errors.New("a missing mailbox exists")
		}
		mb.Sides = map[string]bool{"x": true}
		mb.Updated = when
		return put, nil
	}); err != nil {
		t.Fatal(err)
	}
	first := message{Side: "x", Phase: "pake", Body: "aa"}
	if err := st.appendMessage("u", "box", first, when, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan message, 16)
	stop, err := st.listen("u", "box", func(m message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("full")
	if err := st.appendMessage("u", "box", message{Side: "x", Phase: "no"}, when, func(mb mailbox) error {
		if mb.Messages != 1 {
			return fmt.Errorf("check saw %d messages, want 1", mb.Messages)
		}
		return full
	}); err != full {
		t.Errorf("appendMessage with a refusing check = %v, want its error", err)
	}
	second := message{Side: "y", Phase: "version", Body: "bb"}
	if err := st.appendMessage("u", "box", second, when, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []message{first, second} {
		select {
		case m := <-got:
			if m.Phase != want.Phase || m.Body != want.Body || m.Side != want.Side {
				t.Errorf("listen delivered %+v as message %d, want %+v", m, i, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("listen delivered %d messages, want 2", i)
		}
	}
	stop()
	if mb, _, _ := st.mailbox("u", "box"); mb.Messages != 2 {
		t.Errorf("mailbox counts %d messages after a refused append, want 2", mb.Messages)
	}
	if err := st.updateMailbox("u", "box", func(*mailbox, bool) (change, error) { return drop, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.mailbox("u", "box"); ok {
		t.Error("dropped mailbox still exists")
	}
	if msgs, _ := st.messages("u", "box"); len(msgs) != 0 {
		t.Errorf("dropped mailbox kept its messages: %+v", msgs)
	}

	// Concurrent writers: one creator per name wins; no increment is lost.
	const writers = 8
	if err := st.putMailbox(mailbox{App: "u", ID: "count", Sides: map[string]bool{}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wins := make([]int, 4)
	var mu sync.Mutex
	for w := range writers {
		wg.Go(func() {
			for n := range wins {
				ok, err := st.createNameplate(nameplate{App: "c", Name: fmt.Sprint(n), Mailbox: fmt.Sprint(w), Sides: map[string]bool{}})
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins[n]++
					mu.Unlock()
				}
			}
			for range 5 {
				if err := st.updateMailbox("u", "count", func(mb *mailbox, _ bool) (change, error) {
					mb.Messages++
					return put, nil
				}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for n, w := range wins {
		if w != 1 {
			t.Errorf("nameplate %d created %d times, want once", n, w)
		}
	}
	if mb, _, _ := st.mailbox("u", "count"); mb.Messages != writers*5 {
		t.Errorf("concurrent updates counted %d, want %d", mb.Messages, writers*5)
	}
}

func TestMemStore(t *testing.T) {
	testStore(t, func() store { return newMemStore() }, nil)
}

func TestBoltStore(t *testing.T) {
	dir := t.TempDir()
	open := func() store {
		st, err := openBoltStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	testStore(t, open, open)
}
