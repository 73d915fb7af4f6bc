package loadgen

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseSIO(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sioPacket
	}{
		{`0{"sid":"abc"}`, sioPacket{Type: sioConnect, Namespace: "/", ID: -1, Data: []byte(`{"sid":"abc"}`)}},
		{`0/chat,{"sid":"abc"}`, sioPacket{Type: sioConnect, Namespace: "/chat", ID: -1, Data: []byte(`{"sid":"abc"}`)}},
		{`1/chat`, sioPacket{Type: sioDisconnect, Namespace: "/chat", ID: -1}},
		{`1`, sioPacket{Type: sioDisconnect, Namespace: "/", ID: -1}},
		{`2["said",{"a":1}]`, sioPacket{Type: sioEvent, Namespace: "/", ID: -1, Data: []byte(`["said",{"a":1}]`)}},
		{`212["join","r"]`, sioPacket{Type: sioEvent, Namespace: "/", ID: 12, Data: []byte(`["join","r"]`)}},
		{`3/x,0[{"ok":true}]`, sioPacket{Type: sioAck, Namespace: "/x", ID: 0, Data: []byte(`[{"ok":true}]`)}},
		{`4{"message":"Invalid namespace"}`, sioPacket{Type: sioConnectError, Namespace: "/", ID: -1, Data: []byte(`{"message":"Invalid namespace"}`)}},
		{`51-["said",{"_placeholder":true,"num":0}]`, sioPacket{Type: sioBinaryEvent, Attachments: 1, Namespace: "/", ID: -1,
			Data: []byte(`["said",{"_placeholder":true,"num":0}]`)}},
	} {
		got, err := parseSIO([]byte(tc.in))
		if err != nil {
			t.Errorf("parseSIO(%q): %v", tc.in, err)
			continue
		}
		if got.Type != tc.want.Type || got.Attachments != tc.want.Attachments || got.Namespace != tc.want.Namespace ||
			got.ID != tc.want.ID || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("parseSIO(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		// Encoding gives the input back for the packets the tool sends (no attachments).
		if got.Attachments == 0 && !bytes.HasPrefix([]byte(tc.in), []byte("1/")) { // "1/chat," is the canonical form
			if enc := appendSIO(nil, got.Type, got.Namespace, got.ID, got.Data); string(enc) != tc.in {
				t.Errorf("appendSIO = %q, want %q", enc, tc.in)
			}
		}
	}
	for _, bad := range []string{"", "9", "2x", "5-[]", "5a-[]", `2"s"`, "299999999999999999999[]"} {
		if _, err := parseSIO([]byte(bad)); !errors.Is(err, errSIOParse) {
			t.Errorf("parseSIO(%q) = %v, want errSIOParse", bad, err)
		}
	}
}

func TestIsEvent(t *testing.T) {
	p := eventPrefix("said")
	for in, want := range map[string]bool{`["said",1]`: true, `["said"]`: true, `["saidx",1]`: false,
		`["say",1]`: false, `["said"`: false, `{"said":1}`: false} {
		if _, ok := isEvent([]byte(in), p); ok != want {
			t.Errorf("isEvent(%s) = %v, want %v", in, ok, want)
		}
	}
}

func TestPayloadMarker(t *testing.T) {
	for _, size := range []int{0, 10, 64, 1000} {
		p := appendPayload(nil, 7, 42, 123456789, size)
		if size > 40 && len(p) != size {
			t.Errorf("payload of %d bytes for size %d", len(p), size)
		}
		// As the chat relays it: inside said's object.
		said := append(append([]byte(`[{"room":"r","from":"x","payload":`), p...), `}]`...)
		pub, seq, ts, ok := parseMarker(said)
		if !ok || pub != 7 || seq != 42 || ts != 123456789 {
			t.Errorf("parseMarker(%s) = %d %d %d %v", said, pub, seq, ts, ok)
		}
	}
	for _, bad := range []string{`{}`, `"rbts":[1,2]`, `"rbts":[1,2,x]`, `"rbts":[1;2;3]`, `"rbts":[`} {
		if _, _, _, ok := parseMarker([]byte(bad)); ok {
			t.Errorf("parseMarker(%s) ok", bad)
		}
	}
}

func TestAckError(t *testing.T) {
	for in, want := range map[string]string{`{"ok":true,"rooms":[]}`: "", `{"ok":false,"error":"not in room"}`: "not in room",
		`{"ok":false}`: "refused", `"fine"`: "", ``: "", `{"rooms":[]}`: ""} {
		err := ackError([]byte(in))
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("ackError(%s) = %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("ackError(%s) = nil, want %q", in, want)
		}
	}
}

func TestParseOpen(t *testing.T) {
	o, err := parseOpen([]byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
	if err != nil || o.SID != "s1" || o.MaxPayload != 1_000_000 || o.PingInterval != 25000 {
		t.Errorf("parseOpen = %+v, %v", o, err)
	}
	for _, bad := range []string{"", "40", `0{}`, `0{"sid":1}`, "0"} {
		if _, err := parseOpen([]byte(bad)); err == nil {
			t.Errorf("parseOpen(%q) accepted", bad)
		}
	}
}

// FuzzParseSIO feeds arbitrary server bytes to the Socket.IO decoder: no panic, and a packet it accepts
// without attachments encodes back to the same bytes.
func FuzzParseSIO(f *testing.F) {
	for _, s := range []string{`0{"sid":"abc"}`, `0/chat,{"sid":"a"}`, `1/chat`, `2["said",{"a":1}]`, `212["join","r"]`,
		`3/x,0[{"ok":true}]`, `4{"message":"m"}`, `51-["said",{"_placeholder":true,"num":0}]`, `61-/a,3[{}]`, `2/a`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSIO(b)
		if err != nil {
			return
		}
		if p.Attachments == 0 && p.Type != sioBinaryEvent && p.Type != sioBinaryAck {
			enc := appendSIO(nil, p.Type, p.Namespace, p.ID, p.Data)
			// "/" written out and a leading-zero id are the two spellings that normalise.
			if q, err := parseSIO(enc); err != nil || q.Type != p.Type || q.Namespace != p.Namespace ||
				q.ID != p.ID || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("%q → %+v → %q → %+v, %v", b, p, enc, q, err)
			}
		}
		isEvent(p.Data, eventPrefix("said"))
		_ = ackError(firstArg(p.Data))
	})
}

// FuzzServerBytes covers the rest of what the tool reads from a server: polling payloads, open packets
// and the payload marker.
func FuzzServerBytes(f *testing.F) {
	f.Add([]byte("0{\"sid\":\"x\",\"maxPayload\":100}\x1e40{\"sid\":\"y\"}\x1e2"))
	f.Add(appendPayload(nil, 1, 2, 3, 64))
	f.Add([]byte(`"rbts":[-1,99999999999999999999,3]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range splitPayload(b) {
			_, _ = parseOpen(p)
		}
		parseMarker(b)
	})
}
