package engine

import "github.com/roomio/roomio/internal/packet"

// Arg is one event or ack argument as it came off the wire: JSON text, or raw bytes when Binary is set.
// Decode unmarshals it.
type Arg = packet.Arg

// toArgs converts Emit arguments (see packet.ArgsOf): []byte is sent as binary, json.RawMessage and Arg
// as they are, anything else as compact JSON without HTML escaping.
func toArgs(in []any) ([]packet.Arg, error) { return packet.ArgsOf(in) }
