package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// DefaultMaxAttachments is the attachment limit of a Decoder whose MaxAttachments is zero.
const DefaultMaxAttachments = 10

// ErrParse is wrapped, with detail, by every decoding error: unknown packet type, bad namespace or ack id,
// invalid JSON or payload shape, too many attachments, or attachments out of sequence.
var ErrParse = errors.New("socketio: parse error")

func parseErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrParse}, args...)...)
}

// Decoder decodes one connection's Socket.IO packets from Engine.IO message payloads. It is stateful
// because a binary packet's attachments arrive as the binary messages that follow its text. After an
// error the Decoder is back in its initial state, but the connection should be closed: the peer and this
// side no longer agree on the stream. A Decoder is not safe for concurrent use; its zero value is ready.
type Decoder struct {
	// MaxAttachments is the largest attachment count a binary packet may announce. Zero or negative means
	// DefaultMaxAttachments (10).
	MaxAttachments int
	// MaxAttachmentBytes bounds the total size of one packet's attachments: an attachment that takes
	// the pending packet over it is a parse error. Zero or negative means no bound (the connection's
	// message limit still bounds each attachment).
	MaxAttachmentBytes int

	// The binary packet waiting for attachments, if any.
	p      *packet.Packet
	want   int         // attachments announced
	atts   [][]byte    // attachments received so far
	size   int         // their total size
	top    []topRef    // binary arguments to fill in
	nested []nestedRef // JSON arguments with placeholders nested inside them

	s scanner // reused for each payload
}

// topRef says that p.Args[arg] is attachment num.
type topRef struct{ arg, num int }

// nestedRef says that p.Args[arg].Attachments[j] is attachment nums[j].
type nestedRef struct {
	arg  int
	nums []int
}

// Text decodes a text payload: an Engine.IO message without its leading "4". It returns (nil, nil) when
// the packet is a binary one that waits for attachments. The packet aliases data.
func (d *Decoder) Text(data []byte) (*packet.Packet, error) {
	if d.p != nil {
		n := d.want - len(d.atts)
		d.reset()
		return nil, parseErr("text packet while %d attachments are pending", n)
	}
	p, err := d.text(data)
	d.s.b = nil // do not keep the payload alive
	if err != nil {
		d.reset()
		return nil, err
	}
	if d.p == nil {
		return p, nil
	}
	if d.want == 0 {
		return d.complete(), nil
	}
	return nil, nil
}

// Binary adds an attachment to the pending binary packet; it returns the packet once the last one
// arrived, and (nil, nil) before. A binary message when no packet waits is a parse error. The packet
// keeps data as the attachment.
func (d *Decoder) Binary(data []byte) (*packet.Packet, error) {
	if d.p == nil {
		return nil, parseErr("unexpected binary message")
	}
	if d.MaxAttachmentBytes > 0 && d.size+len(data) > d.MaxAttachmentBytes {
		n := d.size + len(data)
		d.reset()
		return nil, parseErr("attachments of %d bytes or more, at most %d", n, d.MaxAttachmentBytes)
	}
	d.size += len(data)
	d.atts = append(d.atts, data)
	if len(d.atts) < d.want {
		return nil, nil
	}
	return d.complete(), nil
}

// reset drops the pending packet. The attachment and reference buffers are kept for the next binary
// packet, without their contents.
func (d *Decoder) reset() {
	clear(d.atts)
	d.p, d.want, d.size, d.atts, d.top, d.nested = nil, 0, 0, d.atts[:0], d.top[:0], nil
}

// Pending reports whether a binary packet is waiting for attachments.
func (d *Decoder) Pending() bool { return d.p != nil }

func (d *Decoder) complete() *packet.Packet {
	p := d.p
	for _, r := range d.top {
		p.Args[r.arg] = packet.Arg{Data: d.atts[r.num], Binary: true}
	}
	for _, r := range d.nested {
		atts := make([][]byte, len(r.nums))
		for j, num := range r.nums {
			atts[j] = d.atts[num]
		}
		p.Args[r.arg].Attachments = atts
	}
	d.reset()
	return p
}

// text decodes one packet: <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]. A binary packet
// is left in d to wait for its attachments.
func (d *Decoder) text(data []byte) (*packet.Packet, error) {
	if len(data) == 0 {
		return nil, parseErr("empty packet")
	}
	// Arguments are relayed as they are into other clients' WebSocket text frames, which browsers reject
	// unless they are UTF-8 (RFC 6455 §8.1): one bad packet must not break every receiver's connection.
	if !utf8.Valid(data) {
		return nil, parseErr("text packet is not valid UTF-8")
	}
	typ := data[0]
	if typ < typeConnect || typ > typeBinaryAck {
		return nil, parseErr("unknown packet type %q", typ)
	}
	i := 1
	binary := typ == typeBinaryEvent || typ == typeBinaryAck
	want := 0
	if binary {
		// "<# of binary attachments>-" (spec, Format). The count bounds what Binary will buffer, so it is
		// checked against MaxAttachments before any attachment arrives.
		start := i
		for i < len(data) && isDigit(data[i]) {
			i++
		}
		if i == start || i == len(data) || data[i] != '-' {
			return nil, parseErr("binary packet without an attachment count")
		}
		maxAtt := d.MaxAttachments
		if maxAtt <= 0 {
			maxAtt = DefaultMaxAttachments
		}
		n, err := strconv.ParseUint(string(data[start:i]), 10, 32)
		if err != nil || n > uint64(maxAtt) {
			return nil, parseErr("binary packet announces %s attachments, more than %d", clip(data[start:i]), maxAtt)
		}
		want = int(n)
		i++
	}

	// Namespace: from a '/' up to ',' or the end, as the reference parser reads it.
	ns := "/"
	if i < len(data) && data[i] == '/' {
		start := i
		for i < len(data) && data[i] != ',' {
			i++
		}
		ns = string(data[start:i])
		if i < len(data) {
			i++ // the ','
		} else if typ != typeConnect && typ != typeDisconnect {
			// Only CONNECT and DISCONNECT may end with the namespace ("40/admin", "41/admin"); every other
			// type has a payload, which the namespace must be separated from.
			return nil, parseErr("namespace %q not followed by ','", clip(data[start:i]))
		}
	}

	var ackID uint64
	if i < len(data) && isDigit(data[i]) {
		// The reference parser reads an id on any type and ignores it where acks make no sense; no
		// client writes one there, so it is treated as the garbage it is.
		if typ == typeConnect || typ == typeDisconnect || typ == typeConnectError {
			return nil, parseErr("ack id in a packet of type %c", typ)
		}
		start := i
		for i < len(data) && isDigit(data[i]) {
			i++
		}
		id, err := strconv.ParseUint(string(data[start:i]), 10, 64)
		if err != nil || id == math.MaxUint64 {
			return nil, parseErr("bad ack id %s", clip(data[start:i]))
		}
		ackID = id + 1 // AckID 0 means no ack (doc.go, Ack ids)
	}
	payload := data[i:]

	// Payload shapes follow socket.io-parser's isPayloadValid: CONNECT an object (or nothing), DISCONNECT
	// nothing, CONNECT_ERROR an object or string, EVENT an array starting with the name, ACK an array.
	switch typ {
	case typeConnect:
		p := &packet.Packet{Kind: packet.KindConnect, Namespace: ns}
		if len(payload) > 0 {
			s := &d.s
			if err := s.scan(payload, false); err != nil {
				return nil, err
			}
			if s.b[0] != '{' {
				return nil, parseErr("CONNECT payload is not an object")
			}
			p.Data = s.b[:len(s.b):len(s.b)]
		}
		return p, nil
	case typeDisconnect:
		if len(payload) > 0 {
			return nil, parseErr("DISCONNECT with a payload")
		}
		return &packet.Packet{Kind: packet.KindDisconnect, Namespace: ns}, nil
	case typeConnectError:
		return decodeConnectError(&d.s, ns, payload)
	}

	// EVENT, ACK and their binary forms.
	kind, what := packet.KindAck, "ACK"
	if typ == typeEvent || typ == typeBinaryEvent {
		kind, what = packet.KindEvent, "EVENT"
	}
	if len(payload) == 0 {
		return nil, parseErr("%s without a payload", what)
	}
	s := &d.s
	if err := s.scan(payload, binary); err != nil {
		return nil, err
	}
	if s.b[0] != '[' {
		return nil, parseErr("%s payload is not an array", what)
	}
	p := &packet.Packet{Kind: kind, Namespace: ns, AckID: ackID}
	els := s.elems
	// The reference parser also takes a number as the event name and refuses reserved names ("connect",
	// "disconnect", ...). roomio's event names are strings, and the engine checks reserved names for every
	// protocol, answering them like any invalid event.
	if kind == packet.KindEvent {
		if len(els) == 0 || s.b[els[0].start] != '"' {
			return nil, parseErr("EVENT without an event name")
		}
		p.Name = unquote(s.b[els[0].start:els[0].end])
		els = els[1:]
	}
	if len(els) > 0 {
		p.Args = make([]packet.Arg, len(els))
		// Capacity-limited sub-slices: appending to one argument must not overwrite the next.
		for i, e := range els {
			p.Args[i] = packet.Arg{Data: s.b[e.start:e.end:e.end]}
		}
	}
	if !binary {
		return p, nil
	}
	if err := d.placeholders(p, s, len(s.elems)-len(els), want); err != nil {
		return nil, err
	}
	return p, nil
}

// placeholders resolves the placeholders of binary packet p and leaves it in d to wait for its want
// attachments. skip is the number of payload elements before the first argument (the event name).
func (d *Decoder) placeholders(p *packet.Packet, s *scanner, skip, want int) error {
	var nested []nestedRef
	for _, ph := range s.phs {
		num, ok := ph.num(s.b)
		if !ok || num >= want {
			return parseErr("illegal attachments: placeholder %s with %d attachments", clip(s.b[ph.start:ph.end]), want)
		}
		if ph.top {
			d.top = append(d.top, topRef{arg: ph.elem - skip, num: num})
			continue
		}
		// Placeholders come in document order, so those of one argument are adjacent.
		if k := len(nested) - 1; k < 0 || nested[k].arg != ph.elem-skip {
			nested = append(nested, nestedRef{arg: ph.elem - skip})
		}
		r := &nested[len(nested)-1]
		r.nums = append(r.nums, num)
	}
	for i := range nested {
		nested[i].nums = slices.Compact(slices.Sorted(slices.Values(nested[i].nums)))
	}
	renumber(p, s, skip, nested)
	d.nested = nested
	d.p, d.want = p, want
	return nil
}

// renumber rewrites the "num" of the nested placeholders of each argument in nested to their index in
// its nums (the argument's sorted wire numbers), so that they index the argument's Attachments. An
// argument whose numbers already match keeps its bytes; the others are copied. One pass over the
// placeholders, which are in document order like nested.
func renumber(p *packet.Packet, s *scanner, skip int, nested []nestedRef) {
	k := -1        // nested[k] is the argument being rewritten
	var out []byte // its new bytes, nil while it needs no change
	last := 0      // end of what has been copied of it
	flush := func() {
		if out != nil {
			e := s.elems[nested[k].arg+skip]
			out = append(out, s.b[last:e.end]...)
			p.Args[nested[k].arg].Data = out[:len(out):len(out)]
		}
		out = nil
	}
	for _, ph := range s.phs {
		if ph.top {
			continue
		}
		if k < 0 || nested[k].arg+skip != ph.elem {
			flush()
			k++
			last = s.elems[ph.elem].start
		}
		num, _ := ph.num(s.b)
		j, _ := slices.BinarySearch(nested[k].nums, num)
		if j == num {
			continue
		}
		if out == nil {
			e := s.elems[ph.elem]
			out = make([]byte, 0, e.end-e.start+8)
		}
		out = append(out, s.b[last:ph.numStart]...)
		out = strconv.AppendInt(out, int64(j), 10)
		last = ph.numEnd
	}
	if k >= 0 {
		flush()
	}
}

// decodeConnectError decodes a CONNECT_ERROR payload: an object with "message" and optional "data", or a
// bare string (protocol v4 and older).
func decodeConnectError(s *scanner, ns string, payload []byte) (*packet.Packet, error) {
	if len(payload) == 0 {
		return nil, parseErr("CONNECT_ERROR without a payload")
	}
	if err := s.scan(payload, false); err != nil {
		return nil, err
	}
	p := &packet.Packet{Kind: packet.KindConnectError, Namespace: ns}
	switch s.b[0] {
	case '"':
		p.Message = unquote(s.b)
		return p, nil
	case '{':
	default:
		return nil, parseErr("CONNECT_ERROR payload is neither an object nor a string")
	}
	var obj map[string]json.RawMessage // exact key matches; the last of duplicate keys wins, as in JSON.parse
	if err := json.Unmarshal(s.b, &obj); err != nil {
		return nil, parseErr("CONNECT_ERROR payload: %v", err)
	}
	if m, ok := obj["message"]; ok {
		if m[0] != '"' {
			return nil, parseErr("CONNECT_ERROR message is not a string")
		}
		p.Message = unquote(m)
	}
	if d, ok := obj["data"]; ok {
		p.Data = d
	}
	return p, nil
}

// clip returns b for an error message, cut to 40 bytes: errors must not echo a whole hostile payload.
func clip(b []byte) string {
	if len(b) > 40 {
		n := 40
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "…"
	}
	return string(b)
}
