package relay

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fieldDocs returns the doc comment of every field of the struct type
// name declared in file; a field without its own comment shares the
// comment of the field before it (fields documented as a group).
func fieldDocs(t *testing.T, file, name string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		doc := ""
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			if fld.Doc != nil {
				doc = fld.Doc.Text()
			}
			for _, id := range fld.Names {
				docs[id.Name] = strings.Join(strings.Fields(doc), " ")
			}
		}
		return false
	})
	return docs
}

// humanDefaults are the ways a doc comment may write a default value:
// sizes in KiB or MiB, durations as Go prints them (trailing zero units
// dropped) or in whole seconds.
func humanDefaults(v reflect.Value) []string {
	switch x := v.Interface().(type) {
	case time.Duration:
		s := strings.TrimSuffix(strings.TrimSuffix(x.String(), "0s"), "0m")
		return []string{s, fmt.Sprintf("%ds", int64(x/time.Second))}
	case int64:
		switch {
		case x >= 1<<20 && x%(1<<20) == 0:
			return []string{fmt.Sprintf("%d MiB", x>>20)}
		case x >= 1<<10 && x%(1<<10) == 0:
			return []string{fmt.Sprintf("%d KiB", x>>10)}
		}
	}
	return []string{fmt.Sprint(v.Interface())}
}

// TestConfigDocsMatchDefaults checks that the doc comment of each limit
// of Config and TransitConfig names the default the code applies.
func TestConfigDocsMatchDefaults(t *testing.T) {
	for _, tc := range []struct {
		file, typ string
		cfg       any
		fields    []string
	}{
		{"server.go", "Config", Config{}.withDefaults(), []string{
			"MaxFrameBytes", "MaxMessagesPerMailbox", "MaxMailboxBytes",
			"MaxStoredBytes", "MaxStoredBytesPerIP", "MaxStoredBytesPerPrefix",
			"MaxConns", "MaxConnsPerIP", "MaxConnsPerPrefix", "MaxNameplates", "MaxMailboxes",
			"MaxNameplatesPerIP", "MaxNameplatesPerPrefix", "MaxBufferBytes",
			"WriteTimeout", "PingInterval", "PruneAge", "PruneUnpairedAge", "PruneInterval",
		}},
		{"transit.go", "TransitConfig", TransitConfig{}.withDefaults(), []string{
			"MaxConns", "MaxConnsPerIP", "MaxConnsPerPrefix", "MaxPending", "MaxPendingPerIP",
			"MaxPendingPerPrefix", "MaxPendingPerToken", "EvictIdleAfter",
			"HandshakeTimeout", "PairTimeout", "IdleTimeout", "WriteTimeout",
		}},
	} {
		docs := fieldDocs(t, tc.file, tc.typ)
		v := reflect.ValueOf(tc.cfg)
		for _, name := range tc.fields {
			doc, ok := docs[name]
			if !ok {
				t.Errorf("%s.%s: no such field", tc.typ, name)
				continue
			}
			wants := humanDefaults(v.FieldByName(name))
			found := false
			for _, w := range wants {
				found = found || strings.Contains(doc, " "+w)
			}
			if !found || !strings.Contains(doc, "Default") {
				t.Errorf("%s.%s: default is %s, but its doc says: %q", tc.typ, name, wants[0], doc)
			}
		}
	}
}
