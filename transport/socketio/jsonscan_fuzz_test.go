package socketio_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/roomio/roomio/transport/socketio"
)

// FuzzPayloadJSON checks the codec's JSON scanner against encoding/json: an ACK payload decodes exactly
// when it is valid UTF-8 and valid JSON with an array at the top, and its arguments are the compacted
// elements.
func FuzzPayloadJSON(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"2",{"3":[true]}]`, ` [ 1 , { "a" : [ ] } ] `, `[1.0e+3,-0,"\u00e9\n"]`, `[01]`, `["\q"]`, `{}`, `[1,]`, `[`, `["a" "b"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := (&socketio.Decoder{}).Text(append([]byte("3"), payload...))
		if len(payload) > 0 && isDigit(payload[0]) {
			return // read as an ack id, not JSON
		}
		var arr []json.RawMessage
		valid := utf8.Valid(payload) && json.Valid(payload) && json.Unmarshal(payload, &arr) == nil
		if valid != (err == nil) {
			t.Fatalf("payload %q: encoding/json valid=%v, decoder error %v", payload, valid, err)
		}
		if err != nil {
			return
		}
		if len(arr) != len(p.Args) {
			t.Fatalf("payload %q: %d elements, %d args", payload, len(arr), len(p.Args))
		}
		for i, raw := range arr {
			var c bytes.Buffer
			if err := json.Compact(&c, raw); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Bytes(), p.Args[i].Data) {
				t.Fatalf("payload %q: arg %d is %q, want %q", payload, i, p.Args[i].Data, c.Bytes())
			}
		}
	})
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
