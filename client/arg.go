package client

import (
	"fmt"

	"github.com/roomio/roomio/internal/packet"
)

// Arg is one event or ack argument: JSON text, or raw bytes when Binary is set. Decode unmarshals it.
type Arg = packet.Arg

// AckFunc answers an event that asked for an acknowledgement. Its arguments are converted like Emit's.
// Only the first call sends; later calls return ErrAckSent. It is safe for concurrent use and may be
// called after the handler returned.
type AckFunc = func(args ...any) error

// Event is one event received by a Socket, as delivered on a Socket.Events channel.
type Event struct {
	Name string
	Args []Arg
	// Ack answers the event; nil when the sender did not ask for an acknowledgement.
	Ack AckFunc
}

// Decode unmarshals the event's arguments, in order, into vs (see Arg.Decode). It fails when there are
// fewer arguments than targets; a nil target skips its argument.
func (e Event) Decode(vs ...any) error {
	return decodeArgs(e.Args, vs)
}

// DecodeArgs unmarshals args, in order, into vs, as Event.Decode does. It suits ack results.
func DecodeArgs(args []Arg, vs ...any) error {
	return decodeArgs(args, vs)
}

func decodeArgs(args []Arg, vs []any) error {
	if len(vs) > len(args) {
		return fmt.Errorf("client: decode: %d targets for %d arguments", len(vs), len(args))
	}
	for i, v := range vs {
		if v == nil {
			continue
		}
		if err := args[i].Decode(v); err != nil {
			return fmt.Errorf("client: decode argument %d: %w", i, err)
		}
	}
	return nil
}
