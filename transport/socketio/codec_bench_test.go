package socketio_test

import (
	"bytes"
	"testing"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/socketio"
)

// benchPackets are the benchmarked packets: an event with two JSON arguments and an ack id, and an
// event with a JSON argument and a 1 KiB binary argument.
func benchPackets() map[string]*packet.Packet {
	return map[string]*packet.Packet{
		"json_args": {Kind: packet.KindEvent, Namespace: "/", Name: "message", AckID: 13, Args: []packet.Arg{
			{Data: []byte(`"hello, world"`)},
			{Data: []byte(`{"user":"alice","n":42,"tags":["a","b"],"at":1700000000.5}`)},
		}},
		"binary_arg": {Kind: packet.KindEvent, Namespace: "/chat", Name: "upload", Args: []packet.Arg{
			{Data: []byte(`{"name":"a.bin"}`)},
			{Data: bytes.Repeat([]byte{0xab}, 1024), Binary: true},
		}},
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"json_args", "binary_arg"} {
		p := benchPackets()[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(socketio.Encoder.Encode(p))))
			for b.Loop() {
				// Encoder.Encode directly: Packet.Encode would return the cached frame after the first call.
				if socketio.Encoder.Encode(p) == nil || (p.Args[1].Binary && socketio.Attachments(p) == nil) {
					b.Fatal("no frame")
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"json_args", "binary_arg"} {
		p := benchPackets()[name]
		text := socketio.Encoder.Encode(p)[1:] // the Engine.IO layer strips the "4"
		atts := socketio.Attachments(p)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			var d socketio.Decoder
			for b.Loop() {
				got, err := d.Text(text)
				for _, a := range atts {
					got, err = d.Binary(a)
				}
				if err != nil || got == nil {
					b.Fatal(got, err)
				}
			}
		})
	}
}
