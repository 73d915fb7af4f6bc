package engine

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseFilter: a room filter comes from untrusted bytes (an HTTP query parameter, a peer's
// ListRooms or MatchRequest). Whatever they are, parsing returns a filter or ErrBadFilter, never
// panics, and a parsed filter matches metadata equal to itself.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"mode":"duel"}`, `{"a":1,"b":[1,2],"c":{"d":null}}`, `[1]`, `{"a":`, `"x"`, `nul`, ` {"a":true} `, `{"a":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := parseFilter(b)
		if err != nil {
			if !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v is not ErrBadFilter", err)
			}
			return
		}
		meta, err := json.Marshal(map[string]any(flt))
		if err != nil {
			t.Fatal(err)
		}
		if len(flt) > 0 && !flt.matches(meta) {
			t.Fatalf("filter %s does not match itself", b)
		}
		flt.matches(b) // metadata from the same bytes: no panic
	})
}
