package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// Packet types: the first byte of every text packet (Engine.IO v4 "Protocol").
const (
	PacketOpen    = '0'
	PacketClose   = '1'
	PacketPing    = '2'
	PacketPong    = '3'
	PacketMessage = '4'
	PacketUpgrade = '5'
	PacketNoop    = '6'
)

// separator joins the packets of an HTTP long-polling payload (the ASCII record separator).
const separator = 0x1e

// ErrBadPayload is wrapped by DecodePayload's errors.
var ErrBadPayload = errors.New("engineio: malformed payload")

// Frame is one Engine.IO packet to send. For text, Data is the complete packet string including its type
// digit (e.g. "4hello" for a message, "6" for noop). For binary, Data is the binary message payload (a
// binary WebSocket message; in polling "b" followed by the base64 of Data).
//
// Frames handed to [Session.SendFrames] are queued as they are: the caller must not modify Data afterwards.
type Frame struct {
	Data   []byte
	Binary bool
}

// size is what a frame costs in the outbound queue.
func (f Frame) size() int { return len(f.Data) + 1 }

// AppendPayload appends the HTTP long-polling encoding of frames to dst and returns the extended slice:
// text packets as they are, binary ones as "b" + standard base64, joined by the record separator 0x1e
// ("Packet encoding / HTTP long-polling"). A text packet must not contain 0x1e: the protocol cannot
// carry it.
func AppendPayload(dst []byte, frames []Frame) []byte {
	for i, f := range frames {
		if i > 0 {
			dst = append(dst, separator)
		}
		if f.Binary {
			dst = append(dst, 'b')
			dst = base64.StdEncoding.AppendEncode(dst, f.Data)
			continue
		}
		dst = append(dst, f.Data...)
	}
	return dst
}

// DecodePayload splits an HTTP long-polling payload into its packets: text packets as they are (type
// digit included; Data aliases data), binary ones ("b" + base64) decoded. A packet that is empty, has no
// known type digit, or whose base64 does not decode is an error wrapping ErrBadPayload; the packets before
// it are returned with the error, as the reference server handles the packets before a bad one.
func DecodePayload(data []byte) ([]Frame, error) {
	frames := make([]Frame, 0, bytes.Count(data, []byte{separator})+1)
	for i := 0; ; i++ {
		p, rest, more := bytes.Cut(data, []byte{separator})
		f, err := decodePacket(p)
		if err != nil {
			return frames, fmt.Errorf("%w: packet %d: %w", ErrBadPayload, i, err)
		}
		frames = append(frames, f)
		if !more {
			break
		}
		data = rest
	}
	return frames, nil
}

// decodePacket decodes one packet of a polling payload.
func decodePacket(p []byte) (Frame, error) {
	if len(p) == 0 {
		return Frame{}, errors.New("empty packet")
	}
	if p[0] == 'b' {
		b64 := p[1:]
		enc := base64.StdEncoding
		if len(b64)%4 != 0 {
			enc = base64.RawStdEncoding // tolerate clients that strip the padding
		}
		b, err := enc.AppendDecode(make([]byte, 0, enc.DecodedLen(len(b64))), b64)
		if err != nil {
			return Frame{}, fmt.Errorf("binary packet: %w", err)
		}
		return Frame{Data: b, Binary: true}, nil
	}
	if p[0] < PacketOpen || p[0] > PacketNoop {
		return Frame{}, fmt.Errorf("unknown packet type %q", p[0])
	}
	return Frame{Data: p}, nil
}

// validText reports whether p is a well-formed text packet (as received in a WebSocket text message).
func validText(p []byte) bool {
	return len(p) > 0 && p[0] >= PacketOpen && p[0] <= PacketNoop
}
