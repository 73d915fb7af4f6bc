// Package packet defines the protocol-neutral message that flows between roomio's actors and its
// transports: one Packet, built once, encoded lazily and at most once per wire format, and shared by
// every recipient.
//
// # Entry points
//
// A [Packet] is one protocol message; its [Kind] says which fields are used. Arguments are [Arg] values,
// JSON text or binary, built from Go values by [ArgsOf] (the engine's and the client's Emit and Ack) and
// [MarshalJSON]. [Packet.Encode] returns the packet in one wire format through that format's [Encoder];
// the encoding is cached in the format's [Slot] (one per wire format, declared here: [SlotNativeProto],
// [SlotNativeJSON], [SlotSocketIO]), so a broadcast to many connections encodes each format once.
//
// # Concurrency
//
// A Packet must not be modified once it has been handed to another goroutine. Encode may be called
// concurrently from any number of goroutines; each format is encoded exactly once, and every caller gets
// the same bytes, which must not be modified.
//
// # Imports
//
// packet is the bottom of roomio's own packages: it imports no other roomio package, and must not, since
// actors, every transport, the engine and the client all import it. Encoders live with their protocols
// (transport/wire, transport/socketio), not here.
package packet
