// Package wire is the codec of roomio's native protocol (schema: proto/roomio/wire/v1, described in
// docs/protocol.md): it turns [packet.Packet]s into native frames and frames back into packets, in both
// of the protocol's encodings. It does no I/O. The server (package transport/native) and the Go client
// (package client) both speak the protocol through it, so the client needs nothing of the server side.
//
// # Entry points
//
// A [Format] is one encoding: [FormatProto], binary protobuf Frames in binary WebSocket messages
// (subprotocol [SubprotocolProto]), or [FormatJSON], the protobuf JSON mapping in text messages
// ([SubprotocolJSON]).
//
//   - Encoding: Packet.Encode(f.Encoder()) returns one packet's message, encoded at most once per format
//     and shared by every recipient; [AppendBatch] joins such messages into one frame, and [EncodeFrame]
//     does both for a few packets.
//   - Decoding: [DecodeFrame] splits a frame into its wire messages; [FromMessage] converts each into a
//     packet, and [ToMessage] converts the other way.
//   - Errors: a frame that fails with [ErrMalformed] or [ErrInvalidUTF8] is unusable as a whole; a
//     message that fails with [ErrUnknownKind] or [ErrInvalidArg] can be answered with an Error packet
//     carrying one of the ErrCode constants ([ErrCodeInvalid] and its siblings) and skipped.
//
// # Concurrency
//
// Everything here is stateless and safe for concurrent use. Encoders do not modify the packet.
//
// # Imports
//
// wire depends only on proto/roomio/wire/v1 and internal/packet. It must not import package transport,
// any other transport package or anything above them: the client imports wire, and importing a server
// package here would compile the server into every client.
package wire
