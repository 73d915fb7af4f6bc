package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Socket.IO v5 packet types (socket.io-protocol, "Packet format").
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// errSIOParse is wrapped by every malformed Socket.IO packet.
var errSIOParse = errors.New("loadgen: malformed Socket.IO packet")

// sioPacket is one decoded Socket.IO packet; Data aliases the input.
type sioPacket struct {
	Type        byte
	Attachments int    // binary packets: the number of binary frames that follow
	Namespace   string // "/" when absent
	ID          int64  // ack id; -1 when absent
	Data        []byte // the JSON payload, possibly empty
}

// parseSIO decodes the Socket.IO packet b (an Engine.IO message without its "4"):
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// It checks the framing only; the payload is not validated beyond its first byte.
func parseSIO(b []byte) (sioPacket, error) {
	p := sioPacket{Namespace: "/", ID: -1}
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty", errSIOParse)
	}
	p.Type = b[0]
	if p.Type < sioConnect || p.Type > sioBinaryAck {
		return p, fmt.Errorf("%w: type %q", errSIOParse, p.Type)
	}
	b = b[1:]
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		i := bytes.IndexByte(b, '-')
		if i <= 0 || i > 9 {
			return p, fmt.Errorf("%w: attachment count", errSIOParse)
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: attachment count %q", errSIOParse, b[:i])
		}
		p.Attachments, b = n, b[i+1:]
	}
	if len(b) > 0 && b[0] == '/' {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			// "1/chat" and "0/chat" may end with the namespace.
			p.Namespace, b = string(b), nil
		} else {
			p.Namespace, b = string(b[:i]), b[i+1:]
		}
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.ParseInt(string(b[:i]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: ack id %q", errSIOParse, b[:i])
		}
		p.ID, b = id, b[i:]
	}
	if len(b) > 0 && b[0] != '[' && b[0] != '{' {
		return p, fmt.Errorf("%w: payload starts with %q", errSIOParse, b[0])
	}
	p.Data = b
	return p, nil
}

// appendSIO encodes a Socket.IO packet of type typ (without the Engine.IO "4") onto dst; id < 0 writes
// no ack id. data must be the JSON payload or empty.
func appendSIO(dst []byte, typ byte, ns string, id int64, data []byte) []byte {
	dst = append(dst, typ)
	if ns != "/" && ns != "" {
		dst = append(dst, ns...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, data...)
}

// eventPrefix returns `["name"` for matching an event payload against an event name.
func eventPrefix(name string) []byte {
	b, _ := json.Marshal(name)
	return append([]byte{'['}, b...)
}

// isEvent reports whether the payload of an EVENT packet names the event whose prefix is given (the name
// must be followed by ',' or ']'), and returns the arguments after it.
func isEvent(data, prefix []byte) ([]byte, bool) {
	if !bytes.HasPrefix(data, prefix) || len(data) == len(prefix) {
		return nil, false
	}
	switch data[len(prefix)] {
	case ',', ']':
		return data[len(prefix):], true
	}
	return nil, false
}

// splitPayload splits an Engine.IO v4 long-polling payload into its packets (separated by 0x1e).
func splitPayload(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(b, []byte{0x1e})
}

// ackError returns the error an ack reports, chat style: a first argument {"ok":false,"error":"…"}.
// Any other ack (including one from a server without "ok") is a success.
func ackError(first []byte) error {
	var a struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(first, &a) != nil || a.OK == nil || *a.OK {
		return nil
	}
	if a.Error == "" {
		a.Error = "refused"
	}
	return errors.New(a.Error)
}

// firstArg returns the first element of a JSON array, or nil.
func firstArg(array []byte) []byte {
	var args []json.RawMessage
	if json.Unmarshal(array, &args) != nil || len(args) == 0 {
		return nil
	}
	return args[0]
}

// The payload marker: publishers emit {"rbts":[publisher,seq,nanoseconds since the run's start],"pad":"…"}
// and receivers find it anywhere in what they receive, so the tool does not depend on where the server
// puts the payload in its event.
var marker = []byte(`"rbts":[`)

// appendPayload writes a payload of about size bytes.
func appendPayload(dst []byte, pub, seq int, t int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"rbts":[`...)
	dst = strconv.AppendInt(dst, int64(pub), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `],"pad":"`...)
	for n := size - (len(dst) - start) - 2; n > 0; n-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// parseMarker finds the payload marker in b and returns its three numbers.
func parseMarker(b []byte) (pub, seq, t int64, ok bool) {
	i := bytes.Index(b, marker)
	if i < 0 {
		return 0, 0, 0, false
	}
	b = b[i+len(marker):]
	var nums [3]int64
	for k := range nums {
		j := 0
		for j < len(b) && j < 20 && (b[j] >= '0' && b[j] <= '9' || j == 0 && b[j] == '-') {
			j++
		}
		n, err := strconv.ParseInt(string(b[:j]), 10, 64)
		if err != nil || j >= len(b) {
			return 0, 0, 0, false
		}
		want := byte(',')
		if k == 2 {
			want = ']'
		}
		if b[j] != want {
			return 0, 0, 0, false
		}
		nums[k], b = n, b[j+1:]
	}
	return nums[0], nums[1], nums[2], true
}
