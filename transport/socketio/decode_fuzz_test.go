package socketio_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/socketio"
)

// fuzzSeeds are real packets (test-suite.js, the protocol README) and odd ones: (text, attachments
// joined by 0x00).
var fuzzSeeds = []struct{ text, atts string }{
	{"0", ""},
	{`0{"token":"123"}`, ""},
	{"0/custom,", ""},
	{`0/custom,{"token":"abc"}`, ""},
	{"0/random", ""},
	{"1", ""},
	{"1/custom", ""},
	{"1/admin,", ""},
	{`2["message","message to main namespace"]`, ""},
	{`2["message",1,"2",{"3":[true]}]`, ""},
	{`2456["message-with-ack",1,"2",{"3":[false]}]`, ""},
	{`52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "\x01\x02\x03\x00\x04\x05\x06"},
	{`52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "\x01\x02\x03\x00\x04\x05\x06"},
	{`62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "\x01\x02\x03\x00\x04\x05\x06"},
	{`61-/admin,1[{"_placeholder":true,"num":0}]`, "bin"},
	{`52-["m",{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}]}]`, "a\x00b"},
	{`53-["m",{"x":{"_placeholder":true,"num":2,"y":{"_placeholder":true,"num":0}}},{"_placeholder":true,"num":1}]`, "a\x00b\x00c"},
	{`51-["m",{"\u005fplaceholder":true,"num":0}]`, "x"},
	{`4/random,{"message":"Invalid namespace"}`, ""},
	{`4{"message":"not authorized","data":{"hint":"send a token"}}`, ""},
	{`4"legacy"`, ""},
	{`2/admin,["bar"]`, ""},
	{`3/admin,13["bar"]`, ""},
	{`20["x"]`, ""},
	{`30[]`, ""},
	{"2 [ \"e\" , { \"b\" : 1 } ]\n", ""},
	{`2["x",{"b":1,"a":2},1.0,1e3,-0.5E-7,"\u00e9<>&","日本"]`, ""},
	{"abc", ""},
	{"2{}", ""},
	{`2abc["message-with-ack"]`, ""},
	{`218446744073709551615["x"]`, ""},
	{`511-["x"]`, ""},
}

// FuzzDecodeText decodes a text payload followed by the attachments in atts (split at each 0x00 byte)
// and checks that decoding never panics, fails only with errors wrapping ErrParse, and that whatever
// decodes survives decode → encode → decode unchanged, with a stable encoding.
//
// Run it with: go test -run='^$' -fuzz=FuzzDecodeText -fuzztime=20s ./transport/socketio/
func FuzzDecodeText(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.text), []byte(s.atts))
	}
	f.Fuzz(func(t *testing.T, text, atts []byte) {
		var bins [][]byte
		if len(atts) > 0 {
			bins = bytes.Split(atts, []byte{0})
		}
		// A bound on pending attachment bytes only ever turns a decode into an ErrParse.
		if _, err := feed(&socketio.Decoder{MaxAttachmentBytes: 4}, text, bins); err != nil && !errors.Is(err, socketio.ErrParse) {
			t.Fatalf("bounded decoder: error %v does not wrap ErrParse", err)
		}
		var d socketio.Decoder
		p, err := feed(&d, text, bins)
		if err != nil {
			if !errors.Is(err, socketio.ErrParse) {
				t.Fatalf("error %v does not wrap ErrParse", err)
			}
			return
		}
		if p == nil {
			return // still waiting for attachments
		}
		frame, atts2 := socketio.Encoder.Encode(p), socketio.Attachments(p)
		if len(frame) < 2 || frame[0] != '4' || !utf8.Valid(frame) {
			t.Fatalf("bad frame %q for %+v", frame, p)
		}
		p2, err := feed(&socketio.Decoder{}, frame[1:], atts2)
		if err != nil || p2 == nil {
			t.Fatalf("re-decode of %q (%d attachments) from %q: %v, %v", frame, len(atts2), text, p2, err)
		}
		if diff := packetDiff(p2, p); diff != "" {
			t.Fatalf("round trip of %q via %q: %s", text, frame, diff)
		}
		if frame2 := socketio.Encoder.Encode(p2); !bytes.Equal(frame2, frame) {
			t.Fatalf("unstable encoding: %q then %q", frame, frame2)
		}
		if !attsEqual(socketio.Attachments(p2), atts2) {
			t.Fatalf("unstable attachments")
		}
		for _, a := range p.Args {
			if !a.Binary && !json.Valid(a.Data) {
				t.Fatalf("argument %q is not valid JSON", a.Data)
			}
		}
	})
}

// feed decodes text then bins. It returns (nil, nil) if the packet still waits for attachments.
func feed(d *socketio.Decoder, text []byte, bins [][]byte) (*packet.Packet, error) {
	p, err := d.Text(text)
	if err != nil {
		return nil, err
	}
	for _, b := range bins {
		if p != nil {
			// Attachments beyond the announced count must be refused.
			if _, err := d.Binary(b); !errors.Is(err, socketio.ErrParse) {
				return nil, errors.New("extra attachment accepted")
			}
			return p, nil
		}
		if p, err = d.Binary(b); err != nil {
			return nil, err
		}
	}
	return p, nil
}
