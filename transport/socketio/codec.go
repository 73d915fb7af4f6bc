package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// Socket.IO packet types (protocol v5, "Exchange protocol").
const (
	typeConnect      = '0'
	typeDisconnect   = '1'
	typeEvent        = '2'
	typeAck          = '3'
	typeConnectError = '4'
	typeBinaryEvent  = '5'
	typeBinaryAck    = '6'
)

// engineIOMessage is the Engine.IO packet type that carries a Socket.IO packet.
const engineIOMessage = '4'

// DefaultMaxAttachments is the attachment limit of a Decoder whose MaxAttachments is zero.
const DefaultMaxAttachments = 10

// ErrParse is wrapped, with detail, by every decoding error: unknown packet type, bad namespace or ack id,
// invalid JSON or payload shape, too many attachments, or attachments out of sequence.
var ErrParse = errors.New("socketio: parse error")

func parseErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrParse}, args...)...)
}

// Encoder is the packet.Encoder for Socket.IO; it uses packet cache slot packet.SlotSocketIO. Encode returns the complete
// Engine.IO text frame: "4" (the Engine.IO message type) followed by the Socket.IO packet, so a WebSocket
// or polling writer sends it without copying. A binary packet's attachments, returned by [Attachments],
// must follow it as separate binary frames. Encode returns nil for KindPing, KindPong, KindError and
// unknown kinds, which have no Socket.IO form; callers must not send those to a Socket.IO connection.
// It is safe for concurrent use.
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
	n := len(p.Attachments) // nested attachments come first (see doc.go, Binary data)
	size := 48 + len(p.Namespace) + len(p.Name)
	for _, a := range p.Args {
		if a.Binary {
			n++
			size += len(`{"_placeholder":true,"num":}`) + 4
		} else {
			size += len(a.Data) + 1
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
	num := len(p.Attachments)
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
		default:
			b = append(b, a.Data...)
		}
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

// Attachments returns the binary attachments that follow p's text frame, in placeholder order: first
// p.Attachments, then the data of p's binary arguments. The byte slices are p's own, not copies; the
// result is nil for a packet without binary data. It is safe for concurrent use.
func Attachments(p *packet.Packet) [][]byte {
	if p.Kind != packet.KindEvent && p.Kind != packet.KindAck {
		return nil
	}
	n := 0
	for _, a := range p.Args {
		if a.Binary {
			n++
		}
	}
	if n == 0 {
		if len(p.Attachments) == 0 {
			return nil
		}
		return p.Attachments
	}
	out := make([][]byte, 0, len(p.Attachments)+n)
	out = append(out, p.Attachments...)
	for _, a := range p.Args {
		if a.Binary {
			out = append(out, a.Data)
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

// Decoder decodes one connection's Socket.IO packets from Engine.IO message payloads. It is stateful
// because a binary packet's attachments arrive as the binary messages that follow its text. After an
// error the Decoder is back in its initial state, but the connection should be closed: the peer and this
// side no longer agree on the stream. A Decoder is not safe for concurrent use; its zero value is ready.
type Decoder struct {
	// MaxAttachments is the largest attachment count a binary packet may announce. Zero or negative means
	// DefaultMaxAttachments (10).
	MaxAttachments int

	// The binary packet waiting for attachments, if any.
	p      *packet.Packet
	want   int      // attachments announced
	atts   [][]byte // attachments received so far
	top    []topRef // binary arguments to fill in
	nested []int    // p.Attachments[j] is attachment nested[j]

	s scanner // reused for each payload
}

// topRef says that p.Args[arg] is attachment num.
type topRef struct{ arg, num int }

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
	d.p, d.want, d.atts, d.top, d.nested = nil, 0, d.atts[:0], d.top[:0], nil
}

func (d *Decoder) complete() *packet.Packet {
	p := d.p
	for _, r := range d.top {
		p.Args[r.arg] = packet.Arg{Data: d.atts[r.num], Binary: true}
	}
	if len(d.nested) > 0 {
		p.Attachments = make([][]byte, len(d.nested))
		for j, num := range d.nested {
			p.Attachments[j] = d.atts[num]
		}
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
	var nestedNums []int
	for _, ph := range s.phs {
		num, ok := ph.num(s.b)
		if !ok || num >= want {
			return parseErr("illegal attachments: placeholder %s with %d attachments", clip(s.b[ph.start:ph.end]), want)
		}
		if ph.top {
			d.top = append(d.top, topRef{arg: ph.elem - skip, num: num})
		} else {
			nestedNums = append(nestedNums, num)
		}
	}
	if len(nestedNums) > 0 {
		d.nested = slices.Compact(slices.Sorted(slices.Values(nestedNums)))
		renumber(p, s, skip, d.nested)
	}
	d.p, d.want = p, want
	return nil
}

// renumber rewrites the "num" of the nested placeholders to their index in nested (the sorted wire
// numbers), so that they index Packet.Attachments. Arguments whose numbers already match keep their
// bytes; the others are copied.
func renumber(p *packet.Packet, s *scanner, skip int, nested []int) {
	var out []byte // the argument being rebuilt, nil while it needs no change
	last := 0      // end of what has been copied of the argument's element
	elem := -1
	flush := func() {
		if out != nil {
			e := s.elems[elem]
			out = append(out, s.b[last:e.end]...)
			p.Args[elem-skip].Data = out
		}
		out = nil
	}
	for _, ph := range s.phs {
		if ph.top {
			continue
		}
		if ph.elem != elem {
			flush()
			elem, last = ph.elem, s.elems[ph.elem].start
		}
		num, _ := ph.num(s.b)
		j, _ := slices.BinarySearch(nested, num)
		if j == num {
			continue
		}
		if out == nil {
			e := s.elems[elem]
			out = make([]byte, 0, e.end-e.start+8)
		}
		out = append(out, s.b[last:ph.numStart]...)
		out = strconv.AppendInt(out, int64(j), 10)
		last = ph.numEnd
	}
	flush()
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

// unquote returns the value of a valid JSON string literal.
func unquote(lit []byte) string {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		panic("socketio: unquote of a scanned string: " + err.Error()) // the scanner validated lit
	}
	return s
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

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scan validates a JSON payload and finds the elements of a top-level array and, when binary is set, the
// placeholders. A payload with insignificant whitespace is compacted first, so the elements are compact
// and s.b may be a copy. The scanner's slices are reused from one payload to the next.
func (s *scanner) scan(payload []byte, binary bool) error {
	s.reset(payload, binary)
	if err := s.top(); err != nil {
		return err
	}
	if !s.ws {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(payload))
	if err := json.Compact(&buf, payload); err != nil {
		return parseErr("invalid JSON: %v", err) // not reached: the scanner accepted payload
	}
	s.reset(buf.Bytes(), binary)
	return s.top()
}

// maxKeep bounds the element and placeholder buffers a scanner keeps between payloads.
const maxKeep = 256

func (s *scanner) reset(b []byte, binary bool) {
	elems, phs := s.elems[:0], s.phs[:0]
	if cap(elems) > maxKeep {
		elems = nil
	}
	if cap(phs) > maxKeep {
		phs = nil
	}
	*s = scanner{b: b, binary: binary, elems: elems, phs: phs}
}

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// scanner is a JSON validator (RFC 8259, the grammar encoding/json and JSON.parse accept) that records
// the spans the codec needs: the elements of a top-level array and, in binary mode, the placeholder
// objects. It does not check UTF-8; Text checks the whole payload first.
type scanner struct {
	b      []byte
	i      int
	depth  int
	ws     bool // insignificant whitespace seen
	binary bool
	elems  []span        // elements of the top-level array
	elem   int           // index of the top-level element being scanned
	phs    []placeholder // in document order; none inside another placeholder
}

type span struct{ start, end int }

type placeholder struct {
	start, end       int  // the object
	numStart, numEnd int  // the value of its last "num" key; both 0 when absent
	elem             int  // the top-level element it is in
	top              bool // it is that element
}

// num returns the placeholder's attachment number if it is a small non-negative integer.
func (ph placeholder) num(b []byte) (int, bool) {
	lit := b[ph.numStart:ph.numEnd]
	if len(lit) == 0 || len(lit) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range lit {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func (s *scanner) errorf(format string, args ...any) error {
	return parseErr("invalid JSON at offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

// top scans the whole input as one JSON value surrounded by optional whitespace.
func (s *scanner) top() error {
	s.skipWS()
	start := s.i
	if err := s.value(); err != nil {
		return err
	}
	end := s.i
	s.skipWS()
	if s.i != len(s.b) {
		return s.errorf("data after the value")
	}
	if start != 0 || end != len(s.b) {
		s.ws = true
	}
	return nil
}

func (s *scanner) skipWS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			s.ws = true
		default:
			return
		}
	}
}

func (s *scanner) value() error {
	if s.i >= len(s.b) {
		return s.errorf("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.number()
	default:
		return s.errorf("unexpected %q", c)
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.errorf("bad literal")
	}
	s.i += len(lit)
	return nil
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i - start
}

func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return s.errorf("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

// str scans a string literal; escaped reports whether it has escapes.
func (s *scanner) str() (escaped bool, err error) {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return escaped, s.errorf("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return escaped, s.errorf("bad \\u escape")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isDigit(h) && !('a' <= h && h <= 'f') && !('A' <= h && h <= 'F') {
						return escaped, s.errorf("bad \\u escape")
					}
				}
				s.i += 6
			default:
				return escaped, s.errorf("bad escape")
			}
		case c < 0x20:
			return escaped, s.errorf("control character in string")
		default:
			s.i++
		}
	}
	return escaped, s.errorf("unterminated string")
}

func (s *scanner) array() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errorf("nested too deep")
	}
	topArray := s.depth == 1
	s.i++
	s.skipWS()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		start := s.i
		if topArray {
			s.elem = len(s.elems)
		}
		if err := s.value(); err != nil {
			return err
		}
		if topArray {
			s.elems = append(s.elems, span{start, s.i})
		}
		s.skipWS()
		if s.i >= len(s.b) {
			return s.errorf("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.skipWS()
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.errorf("expected ',' or ']'")
		}
	}
}

// Keys the scanner looks for in binary mode.
var (
	keyPlaceholder = []byte(`"_placeholder"`)
	keyNum         = []byte(`"num"`)
)

func (s *scanner) object() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errorf("nested too deep")
	}
	ph := placeholder{start: s.i, elem: s.elem, top: s.depth == 2}
	isPlaceholder := false
	mark := len(s.phs)
	s.i++
	s.skipWS()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.errorf("expected a key")
		}
		keyStart := s.i
		escaped, err := s.str()
		if err != nil {
			return err
		}
		key := s.b[keyStart:s.i]
		s.skipWS()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.errorf("expected ':'")
		}
		s.i++
		s.skipWS()
		valStart := s.i
		if err := s.value(); err != nil {
			return err
		}
		if s.binary {
			// Duplicate keys: the last one counts, as with JSON.parse.
			switch {
			case keyIs(key, escaped, keyPlaceholder):
				isPlaceholder = string(s.b[valStart:s.i]) == "true"
			case keyIs(key, escaped, keyNum):
				ph.numStart, ph.numEnd = valStart, s.i
			}
		}
		s.skipWS()
		if s.i >= len(s.b) {
			return s.errorf("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.skipWS()
		case '}':
			s.i++
			s.depth--
			if isPlaceholder {
				// The reference parser replaces the whole object by the attachment, so placeholders inside
				// it do not count.
				ph.end = s.i
				s.phs = append(s.phs[:mark], ph)
			}
			return nil
		default:
			return s.errorf("expected ',' or '}'")
		}
	}
}

// keyIs reports whether the string literal key (escaped if it has escapes) decodes to want.
func keyIs(key []byte, escaped bool, want []byte) bool {
	if !escaped {
		return bytes.Equal(key, want)
	}
	return unquote(key) == unquote(want)
}
