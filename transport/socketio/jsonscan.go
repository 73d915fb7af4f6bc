package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
)

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
