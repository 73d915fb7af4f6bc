package socketio_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/socketio"
)

// ph returns the placeholder for attachment n as socket.io-parser writes it.
func ph(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }

func js(s string) packet.Arg   { return packet.Arg{Data: []byte(s)} }
func bin(b ...byte) packet.Arg { return packet.Arg{Data: b, Binary: true} }

// jsa is a JSON argument with nested binary data.
func jsa(s string, atts ...[]byte) packet.Arg { return packet.Arg{Data: []byte(s), Attachments: atts} }

// decode feeds text and then each attachment to a fresh Decoder. It fails the test if the packet comes
// out before the last attachment.
func decode(t *testing.T, d *socketio.Decoder, text string, atts ...[]byte) (*packet.Packet, error) {
	t.Helper()
	p, err := d.Text([]byte(text))
	if err != nil {
		return nil, err
	}
	for i, a := range atts {
		if p != nil {
			t.Fatalf("packet returned after %d of %d attachments", i, len(atts))
		}
		if p, err = d.Binary(a); err != nil {
			return nil, err
		}
	}
	if p == nil {
		t.Fatalf("no packet after %d attachments", len(atts))
	}
	return p, nil
}

// packetDiff describes how got differs from want, or returns "" when they are equal. Nil and empty
// slices are equal.
func packetDiff(got, want *packet.Packet) string {
	var d []string
	check := func(field string, eq bool, g, w any) {
		if !eq {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", field, g, w))
		}
	}
	check("Kind", got.Kind == want.Kind, fmt.Sprint(got.Kind), fmt.Sprint(want.Kind))
	check("Namespace", got.Namespace == want.Namespace, got.Namespace, want.Namespace)
	check("Name", got.Name == want.Name, got.Name, want.Name)
	check("AckID", got.AckID == want.AckID, fmt.Sprint(got.AckID), fmt.Sprint(want.AckID))
	check("SID", got.SID == want.SID, got.SID, want.SID)
	check("Message", got.Message == want.Message, got.Message, want.Message)
	check("Data", bytes.Equal(got.Data, want.Data) && (got.Data == nil) == (want.Data == nil), got.Data, want.Data)
	check("Args", argsEqual(got.Args, want.Args), argsString(got.Args), argsString(want.Args))
	return strings.Join(d, "; ")
}

func argsEqual(a, b []packet.Arg) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Binary != b[i].Binary || !bytes.Equal(a[i].Data, b[i].Data) || !attsEqual(a[i].Attachments, b[i].Attachments) {
			return false
		}
	}
	return true
}

func attsEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func argsString(args []packet.Arg) string {
	var s []string
	for _, a := range args {
		if a.Binary {
			s = append(s, fmt.Sprintf("bin%v", a.Data))
		} else {
			s = append(s, string(a.Data))
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// encode returns p's frame, checking that Packet.Encode (through the cache) agrees with Encoder.Encode.
func encode(t *testing.T, p *packet.Packet) (string, [][]byte) {
	t.Helper()
	direct := socketio.Encoder.Encode(p)
	cached := p.Encode(socketio.Encoder)
	if !bytes.Equal(direct, cached) {
		t.Fatalf("Encoder.Encode %q, Packet.Encode %q", direct, cached)
	}
	return string(direct), socketio.Attachments(p)
}

// TestRoundTrip decodes wire packets and re-encodes them: the frame must be the input, byte for byte.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		atts [][]byte
	}{
		{`0`, nil},
		{`0{"token":"123"}`, nil},
		{`0/custom,{"token":"abc","nested":{"z":1,"a":[1.50,2E+10]}}`, nil},
		{`1/admin,`, nil},
		{`2["message",1,"2",{"3":[true]}]`, nil},
		{`2["x",{"b":1,"a":2}]`, nil},
		{`2["x",1.0,1e3,-0,1E+2,12345678901234567890123,0.1000]`, nil},
		{`2["日本語","é","\u00e9","\ud83d\ude00","😀"]`, nil},
		{`2["x","<>&","\u003c\u003e\u0026"]`, nil},
		{`2["x",{"":"","\"":"\\"}]`, nil},
		{`20["ack id zero"]`, nil},
		{`30[]`, nil},
		{`3[]`, nil},
		{`2/admin,0["x"]`, nil},
		{`3/admin,13["bar"]`, nil},
		{`2456["message-with-ack",1,"2",{"3":[false]}]`, nil},
		{`52-789["message-with-ack",` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{`62-789[` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{`52-/admin,["baz",{"deep":[` + ph(0) + `]},` + ph(1) + `]`, [][]byte{{1}, {2}}},
		{`4/random,{"message":"Invalid namespace"}`, nil},
		{`4{"message":"not authorized","data":{"hint":"send a token","b":1.0}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			p, err := decode(t, &socketio.Decoder{}, tt.text, tt.atts...)
			if err != nil {
				t.Fatal(err)
			}
			got, atts := encode(t, p)
			if got != "4"+tt.text {
				t.Errorf("round trip:\n got %s\nwant 4%s", got, tt.text)
			}
			if !attsEqual(atts, tt.atts) {
				t.Errorf("attachments: got %v, want %v", atts, tt.atts)
			}
		})
	}
}
