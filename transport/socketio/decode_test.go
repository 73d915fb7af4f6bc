package socketio_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/socketio"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	b123, b456 := []byte{1, 2, 3}, []byte{4, 5, 6}
	tests := []struct {
		name string
		text string // without the Engine.IO "4"
		atts [][]byte
		want *packet.Packet
	}{
		// test-suite.js, "connect" and "disconnect".
		{"suite/connect", "0", nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/"}},
		{"suite/connect-payload", `0{"token":"123"}`, nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/", Data: []byte(`{"token":"123"}`)}},
		{"suite/connect-custom", "0/custom,", nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/custom"}},
		{"suite/connect-custom-payload", `0/custom,{"token":"abc"}`, nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/custom", Data: []byte(`{"token":"abc"}`)}},
		{"suite/connect-no-comma", "0/random", nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/random"}},
		{"suite/disconnect", "1", nil, &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/"}},
		{"suite/disconnect-custom", "1/custom", nil, &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/custom"}},
		// test-suite.js, "message".
		{"suite/event", `2["message","message to main namespace"]`, nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message", Args: []packet.Arg{js(`"message to main namespace"`)}}},
		{"suite/plain-text", `2["message",1,"2",{"3":[true]}]`, nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message", Args: []packet.Arg{js(`1`), js(`"2"`), js(`{"3":[true]}`)}}},
		{"suite/binary", `52-["message",` + ph(0) + `,` + ph(1) + `]`, [][]byte{b123, b456},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message", Args: []packet.Arg{bin(1, 2, 3), bin(4, 5, 6)}}},
		{"suite/ack", `2456["message-with-ack",1,"2",{"3":[false]}]`, nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message-with-ack", AckID: 457, Args: []packet.Arg{js(`1`), js(`"2"`), js(`{"3":[false]}`)}}},
		{"suite/binary-ack", `52-789["message-with-ack",` + ph(0) + `,` + ph(1) + `]`, [][]byte{b123, b456},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "message-with-ack", AckID: 790, Args: []packet.Arg{bin(1, 2, 3), bin(4, 5, 6)}}},
		{"suite/binary-ack-reply", `62-789[` + ph(0) + `,` + ph(1) + `]`, [][]byte{b123, b456},
			&packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 790, Args: []packet.Arg{bin(1, 2, 3), bin(4, 5, 6)}}},
		{"suite/connect-error", `4/random,{"message":"Invalid namespace"}`, nil,
			&packet.Packet{Kind: packet.KindConnectError, Namespace: "/random", Message: "Invalid namespace"}},
		// README, "Packet encoding" and "Sample session".
		{"spec/connect-sid", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`, nil,
			&packet.Packet{Kind: packet.KindConnect, Namespace: "/admin", Data: []byte(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
		{"spec/connect-error", `4{"message":"Not authorized"}`, nil, &packet.Packet{Kind: packet.KindConnectError, Namespace: "/", Message: "Not authorized"}},
		{"spec/event", `2["foo"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "foo"}},
		{"spec/event-ns", `2/admin,["bar"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/admin", Name: "bar"}},
		{"spec/binary-event", `51-["baz",` + ph(0) + `]`, [][]byte{{1, 2, 3, 4}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "baz", Args: []packet.Arg{bin(1, 2, 3, 4)}}},
		{"spec/binary-event-ns", `52-/admin,["baz",` + ph(0) + `,` + ph(1) + `]`, [][]byte{{1, 2}, {3, 4}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/admin", Name: "baz", Args: []packet.Arg{bin(1, 2), bin(3, 4)}}},
		{"spec/event-ack", `212["foo"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "foo", AckID: 13}},
		{"spec/ack-ns", `3/admin,13["bar"]`, nil, &packet.Packet{Kind: packet.KindAck, Namespace: "/admin", AckID: 14, Args: []packet.Arg{js(`"bar"`)}}},
		{"spec/binary-ack", `61-15["bar",` + ph(0) + `]`, [][]byte{{1, 2, 3, 4}},
			&packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 16, Args: []packet.Arg{js(`"bar"`), bin(1, 2, 3, 4)}}},
		{"spec/disconnect-ns", "1/admin,", nil, &packet.Packet{Kind: packet.KindDisconnect, Namespace: "/admin"}},
		{"spec/session-tellme", `2/admin,1["tellme"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/admin", Name: "tellme", AckID: 2}},
		{"spec/session-binary-ack", `61-/admin,1[` + ph(0) + `]`, [][]byte{{9}},
			&packet.Packet{Kind: packet.KindAck, Namespace: "/admin", AckID: 2, Args: []packet.Arg{bin(9)}}},
		// Ack ids: Socket.IO id N is AckID N+1.
		{"ack-id/event-0", `20["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "x", AckID: 1}},
		{"ack-id/ack-0", `30[]`, nil, &packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 1}},
		{"ack-id/ack-none", `3[1]`, nil, &packet.Packet{Kind: packet.KindAck, Namespace: "/", Args: []packet.Arg{js(`1`)}}},
		{"ack-id/leading-zero", `2007["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "x", AckID: 8}},
		{"ack-id/max", `218446744073709551614["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "x", AckID: 1<<64 - 1}},
		// Namespaces.
		{"ns/explicit-root", `2/,["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "x"}},
		{"ns/digits", `2/v2,5["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/v2", Name: "x", AckID: 6}},
		{"ns/unicode", `2/çà va,["x"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/çà va", Name: "x"}},
		// JSON is kept byte for byte, whitespace aside.
		{"json/raw", `2["e",{"b":1,"a":2},1.0,1e3,-0.5E-7,"\u00e9\n","<>&",[],{},null,true,false]`, nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "e", Args: []packet.Arg{
				js(`{"b":1,"a":2}`), js(`1.0`), js(`1e3`), js(`-0.5E-7`), js(`"\u00e9\n"`), js(`"<>&"`), js(`[]`), js(`{}`), js(`null`), js(`true`), js(`false`)}}},
		{"json/whitespace", " 2 [ \"e\" ,\t{ \"b\" : [ 1 , 2 ] , \"a\" : \" x y \" }\r\n]\n"[1:], nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "e", Args: []packet.Arg{js(`{"b":[1,2],"a":" x y "}`)}}},
		{"json/escaped-name", `2["\u0041\"\\\/"]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: `A"\/`}},
		{"json/connect-whitespace", `0 { "token" : 1 } `, nil, &packet.Packet{Kind: packet.KindConnect, Namespace: "/", Data: []byte(`{"token":1}`)}},
		{"connect-error/data", `4/admin,{"data":{"hint":"send a token"},"message":"not authorized"}`, nil,
			&packet.Packet{Kind: packet.KindConnectError, Namespace: "/admin", Message: "not authorized", Data: []byte(`{"hint":"send a token"}`)}},
		{"connect-error/string", `4"legacy"`, nil, &packet.Packet{Kind: packet.KindConnectError, Namespace: "/", Message: "legacy"}},
		{"connect-error/empty", `4{}`, nil, &packet.Packet{Kind: packet.KindConnectError, Namespace: "/"}},
		// Binary packets and placeholders.
		{"binary/zero-attachments", `50-["m",1]`, nil, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{js(`1`)}}},
		{"binary/unreferenced", `51-["m"]`, [][]byte{{7}}, &packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m"}},
		{"binary/out-of-order", `52-["m",` + ph(1) + `,` + ph(0) + `]`, [][]byte{{0}, {1}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(1), bin(0)}}},
		{"binary/twice", `51-["m",` + ph(0) + `,` + ph(0) + `]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(5), bin(5)}}},
		{"binary/extra-keys", `51-["m",{"x":1,"_placeholder":true,"num":0,"y":[2]}]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(5)}}},
		{"binary/escaped-keys", `51-["m",{"\u005fplaceholder":true,"n\u0075m":0}]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(5)}}},
		{"binary/duplicate-keys", `51-["m",{"_placeholder":false,"num":9,"_placeholder":true,"num":0}]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(5)}}},
		{"binary/not-placeholder", `51-["m",{"_placeholder":false,"num":0},{"_placeholder":"true","num":0},{"num":0}]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{
				js(`{"_placeholder":false,"num":0}`), js(`{"_placeholder":"true","num":0}`), js(`{"num":0}`)}}},
		{"binary/whitespace", `51-[ "m" , { "_placeholder" : true , "num" : 0 } , { "a" : 1 } ]`, [][]byte{{5}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(5), js(`{"a":1}`)}}},
		{"plain-event-placeholder-is-json", `2["m",` + ph(0) + `]`, nil,
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{js(ph(0))}}},
		// Nested placeholders stay in the JSON, renumbered to index their argument's Attachments.
		{"nested/after-top", `52-["m",` + ph(0) + `,{"a":[` + ph(1) + `]}]`, [][]byte{{0}, {1}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{bin(0), jsa(`{"a":[`+ph(0)+`]}`, []byte{1})}}},
		{"nested/first", `52-["m",{"a":` + ph(0) + `},` + ph(1) + `]`, [][]byte{{0}, {1}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{jsa(`{"a":`+ph(0)+`}`, []byte{0}), bin(1)}}},
		{"nested/several", `64-3[` + ph(2) + `,[` + ph(3) + `,{"k":` + ph(1) + `}],{"z":` + ph(3) + `,"y":"num"}]`, [][]byte{{0}, {1}, {2}, {3}},
			&packet.Packet{Kind: packet.KindAck, Namespace: "/", AckID: 4, Args: []packet.Arg{
				bin(2), jsa(`[`+ph(1)+`,{"k":`+ph(0)+`}]`, []byte{1}, []byte{3}), jsa(`{"z":`+ph(0)+`,"y":"num"}`, []byte{3})}}},
		{"nested/inside-placeholder", `52-["m",{"_placeholder":true,"num":0,"x":` + ph(1) + `},[{"_placeholder":true,"num":1,"x":` + ph(9) + `}]]`, [][]byte{{0}, {1}},
			&packet.Packet{Kind: packet.KindEvent, Namespace: "/", Name: "m", Args: []packet.Arg{
				bin(0), jsa(`[{"_placeholder":true,"num":0,"x":`+ph(9)+`}]`, []byte{1})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decode(t, &socketio.Decoder{}, tt.text, tt.atts...)
			if err != nil {
				t.Fatalf("decode %q: %v", tt.text, err)
			}
			if d := packetDiff(p, tt.want); d != "" {
				t.Errorf("decode %q: %s", tt.text, d)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	deep := "2[\"e\"," + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "]"
	tests := []struct {
		name, text, want string
		max              int
		atts             [][]byte
	}{
		{"empty", "", "empty packet", 0, nil},
		{"unknown-type/suite", "abc", "unknown packet type", 0, nil},
		{"unknown-type/7", `7["x"]`, "unknown packet type", 0, nil},
		{"unknown-type/engineio-prefix", `42["x"]`, "ack id in a packet of type 4", 0, nil},
		{"payload/suite-object", `2{}`, "EVENT payload is not an array", 0, nil},
		{"payload/suite-ack-id", `2abc["message-with-ack",1,"2",{"3":[false]}]`, "invalid JSON", 0, nil},
		{"payload/event-missing", `2`, "EVENT without a payload", 0, nil},
		{"payload/event-empty", `2[]`, "EVENT without an event name", 0, nil},
		{"payload/event-number-name", `2[1,"x"]`, "EVENT without an event name", 0, nil},
		{"payload/event-null-name", `2[null]`, "EVENT without an event name", 0, nil},
		{"payload/binary-name", `51-[` + ph(0) + `]`, "EVENT without an event name", 0, nil},
		{"payload/ack-missing", `312`, "ACK without a payload", 0, nil},
		{"payload/ack-object", `3{}`, "ACK payload is not an array", 0, nil},
		{"payload/connect-array", `0[]`, "CONNECT payload is not an object", 0, nil},
		{"payload/connect-null", `0null`, "CONNECT payload is not an object", 0, nil},
		{"payload/connect-string", `0/a,"x"`, "CONNECT payload is not an object", 0, nil},
		{"payload/disconnect", `1{}`, "DISCONNECT with a payload", 0, nil},
		{"payload/disconnect-ns", `1/a,x`, "DISCONNECT with a payload", 0, nil},
		{"payload/connect-error-missing", `4`, "CONNECT_ERROR without a payload", 0, nil},
		{"payload/connect-error-array", `4["x"]`, "neither an object nor a string", 0, nil},
		{"payload/connect-error-message", `4{"message":1}`, "message is not a string", 0, nil},
		{"namespace/unterminated", `2/admin`, "namespace \"/admin\" not followed by ','", 0, nil},
		{"namespace/no-comma", `2/admin["x"]`, "not followed by ','", 0, nil},
		{"namespace/connect-error", `4/admin`, "not followed by ','", 0, nil},
		{"id/max", `218446744073709551615["x"]`, "bad ack id", 0, nil},
		{"id/overflow", `299999999999999999999999["x"]`, "bad ack id", 0, nil},
		{"id/connect", `0/a,5`, "ack id in a packet of type 0", 0, nil},
		{"id/disconnect", `15`, "ack id in a packet of type 1", 0, nil},
		{"json/trailing-comma", `2["x",]`, "invalid JSON", 0, nil},
		{"json/unterminated", `2["x"`, "invalid JSON", 0, nil},
		{"json/trailing-data", `2["x"]x`, "invalid JSON", 0, nil},
		{"json/two-values", `2["x"] ["y"]`, "invalid JSON", 0, nil},
		{"json/control-char", "2[\"x\x01\"]", "invalid JSON", 0, nil},
		{"json/bad-escape", `2["\q"]`, "invalid JSON", 0, nil},
		{"json/bad-unicode-escape", `2["\u12G4"]`, "invalid JSON", 0, nil},
		{"json/leading-zero", `2["x",01]`, "invalid JSON", 0, nil},
		{"json/bare-minus", `2["x",-]`, "invalid JSON", 0, nil},
		{"json/bad-fraction", `2["x",1.]`, "invalid JSON", 0, nil},
		{"json/bad-exponent", `2["x",1e]`, "invalid JSON", 0, nil},
		{"json/bad-literal", `2["x",nul]`, "invalid JSON", 0, nil},
		{"json/single-quotes", `2['x']`, "invalid JSON", 0, nil},
		{"json/key-not-string", `0{a:1}`, "invalid JSON", 0, nil},
		{"json/missing-colon", `0{"a" 1}`, "invalid JSON", 0, nil},
		{"json/too-deep", deep, "nested too deep", 0, nil},
		{"utf8", "2[\"\xff\"]", "not valid UTF-8", 0, nil},
		{"binary/no-count", `5["x"]`, "without an attachment count", 0, nil},
		{"binary/empty-count", `5-["x"]`, "without an attachment count", 0, nil},
		{"binary/no-dash", `52["x"]`, "without an attachment count", 0, nil},
		{"binary/only-count", `52`, "without an attachment count", 0, nil},
		{"binary/too-many", `511-["x"]`, "announces 11 attachments, more than 10", 0, nil},
		{"binary/too-many-custom", `53-["x"]`, "more than 2", 2, nil},
		{"binary/huge-count", `599999999999999999999-["x"]`, "more than 10", 0, nil},
		{"placeholder/out-of-range", `51-["m",` + ph(1) + `]`, "illegal attachments", 0, nil},
		{"placeholder/nested-out-of-range", `51-["m",[` + ph(1) + `]]`, "illegal attachments", 0, nil},
		{"placeholder/string-num", `51-["m",{"_placeholder":true,"num":"0"}]`, "illegal attachments", 0, nil},
		{"placeholder/negative", `51-["m",{"_placeholder":true,"num":-1}]`, "illegal attachments", 0, nil},
		{"placeholder/fraction", `51-["m",{"_placeholder":true,"num":0.5}]`, "illegal attachments", 0, nil},
		{"placeholder/no-num", `51-["m",{"_placeholder":true}]`, "illegal attachments", 0, nil},
		{"placeholder/zero-attachments", `50-["m",` + ph(0) + `]`, "illegal attachments", 0, nil},
		{"binary/object-payload", `51-{"a":` + ph(0) + `}`, "EVENT payload is not an array", 0, nil},
		{"binary/extra-attachment", `51-["m",` + ph(0) + `]`, "unexpected binary message", 0, [][]byte{{1}, {2}}},
		{"binary/after-plain", `2["m"]`, "unexpected binary message", 0, [][]byte{{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &socketio.Decoder{MaxAttachments: tt.max}
			p, err := d.Text([]byte(tt.text))
			for _, a := range tt.atts {
				if err != nil {
					break
				}
				p, err = d.Binary(a)
			}
			if err == nil {
				t.Fatalf("decode %.60q: got %+v, want an error containing %q", tt.text, p, tt.want)
			}
			if !errors.Is(err, socketio.ErrParse) {
				t.Errorf("decode %.60q: error %v does not wrap ErrParse", tt.text, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decode %.60q: error %q, want it to contain %q", tt.text, err, tt.want)
			}
			if p != nil {
				t.Errorf("decode %.60q: packet %+v returned with an error", tt.text, p)
			}
			// The Decoder is usable again after an error.
			if p, err := d.Text([]byte(`2["ok"]`)); err != nil || p.Name != "ok" {
				t.Errorf("after the error: %+v, %v", p, err)
			}
		})
	}
}

func TestDecoderSequence(t *testing.T) {
	t.Parallel()
	t.Run("text-while-pending", func(t *testing.T) {
		t.Parallel()
		var d socketio.Decoder
		if p, err := d.Text([]byte(`52-["m",` + ph(0) + `,` + ph(1) + `]`)); p != nil || err != nil {
			t.Fatalf("binary packet header: %v, %v", p, err)
		}
		if p, err := d.Binary([]byte{1}); p != nil || err != nil {
			t.Fatalf("first attachment: %v, %v", p, err)
		}
		_, err := d.Text([]byte(`2["m"]`))
		if !errors.Is(err, socketio.ErrParse) || !strings.Contains(err.Error(), "1 attachments are pending") {
			t.Fatalf("text while pending: %v", err)
		}
		// The pending packet was dropped: a binary message is now unexpected.
		if _, err := d.Binary([]byte{2}); !errors.Is(err, socketio.ErrParse) {
			t.Fatalf("binary after reset: %v", err)
		}
	})
	t.Run("max-attachments", func(t *testing.T) {
		t.Parallel()
		d := socketio.Decoder{MaxAttachments: 12}
		text := `512-["m"` + strings.Repeat(","+ph(0), 12) + `]`
		atts := make([][]byte, 12)
		for i := range atts {
			atts[i] = []byte{byte(i)}
		}
		p, err := decode(t, &d, text, atts...)
		if err != nil || len(p.Args) != 12 {
			t.Fatalf("12 attachments with MaxAttachments 12: %v, %v", p, err)
		}
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		// One connection's messages in a row, as the suite's "binary attachments and an ack" test sends.
		var d socketio.Decoder
		for range 3 {
			if p, err := decode(t, &d, "0"); err != nil || p.Kind != packet.KindConnect {
				t.Fatalf("connect: %v, %v", p, err)
			}
			p, err := decode(t, &d, `52-789["message-with-ack",`+ph(0)+`,`+ph(1)+`]`, []byte{1, 2, 3}, []byte{4, 5, 6})
			if err != nil || p.AckID != 790 || len(p.Args) != 2 {
				t.Fatalf("binary event: %v, %v", p, err)
			}
			if p, err := decode(t, &d, "1"); err != nil || p.Kind != packet.KindDisconnect {
				t.Fatalf("disconnect: %v, %v", p, err)
			}
		}
	})
}

// TestDecodeAliasing checks the documented memory behaviour: decoded arguments and attachments are
// sub-slices of the input buffers, capped so that appending to one cannot overwrite the next.
func TestDecodeAliasing(t *testing.T) {
	t.Parallel()
	text := []byte(`51-["m","a","b",` + ph(0) + `]`)
	att := []byte{1, 2, 3}
	var d socketio.Decoder
	if _, err := d.Text(text); err != nil {
		t.Fatal(err)
	}
	p, err := d.Binary(att)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Args[2].Data[0] != &att[0] {
		t.Error("binary argument is a copy of the attachment")
	}
	if &p.Args[0].Data[0] != &text[bytes.Index(text, []byte(`"a"`))] {
		t.Error("JSON argument is a copy of the text")
	}
	_ = append(p.Args[0].Data, 'X')
	if string(p.Args[1].Data) != `"b"` {
		t.Errorf("append to one argument changed the next: %s", p.Args[1].Data)
	}
}
