package socketio

import (
	"strconv"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// Encoder is the packet.Encoder for Socket.IO; it uses packet cache slot packet.SlotSocketIO. Encode
// returns the complete Engine.IO text frame: "4" (the Engine.IO message type) followed by the Socket.IO
// packet, so a WebSocket or polling writer sends it without copying. A binary packet's attachments,
// returned by [Attachments], must follow it as separate binary frames. Encode returns nil for KindPing,
// KindPong, KindError and unknown kinds, which have no Socket.IO form; callers must not send those to a
// Socket.IO connection. It is safe for concurrent use.
var Encoder packet.Encoder = encoder{}

type encoder struct{}

func (encoder) Slot() packet.Slot { return packet.SlotSocketIO }

func (encoder) Encode(p *packet.Packet) []byte {
	switch p.Kind {
	case packet.KindConnect:
		b := appendHeader(make([]byte, 0, 8+len(p.Namespace)+len(p.Data)), typeConnect, 0, p.Namespace, 0)
		return append(b, p.Data...)
	case packet.KindConnected:
		b := appendHeader(make([]byte, 0, 16+len(p.Namespace)+len(p.SID)), typeConnect, 0, p.Namespace, 0)
		b = append(b, `{"sid":`...)
		b = appendString(b, p.SID)
		if p.PID != "" {
			b = append(b, `,"pid":`...)
			b = appendString(b, p.PID)
		}
		return append(b, '}')
	case packet.KindDisconnect:
		return appendHeader(make([]byte, 0, 4+len(p.Namespace)), typeDisconnect, 0, p.Namespace, 0)
	case packet.KindConnectError:
		b := appendHeader(make([]byte, 0, 32+len(p.Namespace)+len(p.Message)+len(p.Data)), typeConnectError, 0, p.Namespace, 0)
		b = append(b, `{"message":`...)
		b = appendString(b, p.Message)
		if p.Data != nil {
			b = append(b, `,"data":`...)
			b = append(b, p.Data...)
		}
		return append(b, '}')
	case packet.KindEvent, packet.KindAck:
		return encodeArgs(p)
	}
	return nil
}

// encodeArgs encodes an EVENT, ACK, BINARY_EVENT or BINARY_ACK.
func encodeArgs(p *packet.Packet) []byte {
	n := 0 // attachments, numbered in document order (see doc.go, Binary data)
	size := 48 + len(p.Namespace) + len(p.Name) + len(p.Offset)
	for _, a := range p.Args {
		if a.Binary {
			n++
			size += len(`{"_placeholder":true,"num":}`) + 4
		} else {
			n += len(a.Attachments)
			size += len(a.Data) + 1 + 2*len(a.Attachments)
		}
	}
	typ := byte(typeAck)
	if p.Kind == packet.KindEvent {
		typ = typeEvent
	}
	if n > 0 {
		typ += typeBinaryEvent - typeEvent
	}
	b := appendHeader(make([]byte, 0, size), typ, n, p.Namespace, p.AckID)
	b = append(b, '[')
	first := true
	if p.Kind == packet.KindEvent {
		b = appendString(b, p.Name)
		first = false
	}
	num := 0
	for _, a := range p.Args {
		if !first {
			b = append(b, ',')
		}
		first = false
		switch {
		case a.Binary:
			b = append(b, `{"_placeholder":true,"num":`...)
			b = strconv.AppendInt(b, int64(num), 10)
			b = append(b, '}')
			num++
		case len(a.Data) == 0:
			b = append(b, "null"...) // an empty JSON argument would make the array invalid
		case len(a.Attachments) > 0 && num > 0:
			b = appendShifted(b, a.Data, num)
			num += len(a.Attachments)
		default:
			b = append(b, a.Data...)
			num += len(a.Attachments)
		}
	}
	if p.Offset != "" && p.Kind == packet.KindEvent {
		// Connection state recovery: the offset is the last argument, as the reference server writes it.
		if !first {
			b = append(b, ',')
		}
		b = appendString(b, p.Offset)
	}
	return append(b, ']')
}

// appendHeader appends the Engine.IO message type and the Socket.IO packet header:
// <type>[<attachments>-][<namespace>,][<ack id>]. ackID is the packet's (shifted) AckID, 0 for none.
func appendHeader(b []byte, typ byte, attachments int, ns string, ackID uint64) []byte {
	b = append(b, engineIOMessage, typ)
	if typ == typeBinaryEvent || typ == typeBinaryAck {
		b = strconv.AppendInt(b, int64(attachments), 10)
		b = append(b, '-')
	}
	if ns != "" && ns != "/" {
		b = append(b, ns...)
		b = append(b, ',')
	}
	if ackID != 0 {
		b = strconv.AppendUint(b, ackID-1, 10) // Socket.IO ids start at 0 (doc.go, Ack ids)
	}
	return b
}

// appendShifted appends the JSON argument arg with base added to the "num" of each of its placeholders:
// the argument numbers its attachments from 0, and in this packet they start at base. A placeholder
// whose number is not a small integer, and an argument that does not scan, are written as they are.
func appendShifted(b, arg []byte, base int) []byte {
	var s scanner // the Encoder is shared: a scanner of its own (only arguments with nested binary data)
	if s.scan(arg, true) != nil {
		return append(b, arg...)
	}
	last := 0
	for _, ph := range s.phs {
		num, ok := ph.num(s.b)
		if !ok {
			continue
		}
		b = append(b, s.b[last:ph.numStart]...)
		b = strconv.AppendInt(b, int64(base+num), 10)
		last = ph.numEnd
	}
	return append(b, s.b[last:]...)
}

// Attachments returns the binary attachments that follow p's text frame, in placeholder order: the
// arguments' in argument order, the data of a binary argument or the Attachments of a JSON one. The
// byte slices are p's own, not copies; the result is nil for a packet without binary data. It is safe
// for concurrent use.
func Attachments(p *packet.Packet) [][]byte {
	if p.Kind != packet.KindEvent && p.Kind != packet.KindAck {
		return nil
	}
	n := 0
	for _, a := range p.Args {
		if a.Binary {
			n++
		} else {
			n += len(a.Attachments)
		}
	}
	if n == 0 {
		return nil
	}
	out := make([][]byte, 0, n)
	for _, a := range p.Args {
		if a.Binary {
			out = append(out, a.Data)
		} else {
			out = append(out, a.Attachments...)
		}
	}
	return out
}

// appendString appends s as a JSON string the way JavaScript's JSON.stringify writes it: only '"', '\\'
// and control characters are escaped (no HTML escaping, U+2028/U+2029 kept), and invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
