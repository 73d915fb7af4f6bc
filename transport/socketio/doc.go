// Package socketio is roomio's Socket.IO v5 front-end (https://github.com/socketio/socket.io-protocol):
// the codec, which turns [packet.Packet]s into Socket.IO packets framed as Engine.IO messages and
// Engine.IO message payloads back into packets, and the [Server], which joins that codec to the Engine.IO
// server (package transport/engineio, which moves the frames) and hands each session to the engine as a
// transport.Conn. The codec does no I/O.
//
// # Files
//
// encode.go holds the [Encoder] and [Attachments], decode.go the [Decoder], jsonscan.go the JSON scanner
// the Decoder validates and splits payloads with, protocol.go the packet types both sides share, and
// server.go the [Server] and its [Conn].
//
// # Entry points
//
// [NewServer] returns a [Server], an http.Handler to mount at /socket.io/; each Engine.IO session becomes
// a [Conn] given to Options.Acceptor.
//
// [Encoder] is the [packet.Encoder] for the format (cache slot [packet.SlotSocketIO]):
// Packet.Encode(socketio.Encoder) returns the complete Engine.IO text frame, "4" followed by the
// Socket.IO packet, and [Attachments] returns the binary frames that must follow it. A [Decoder] decodes
// one connection's inbound messages: [Decoder.Text] for text payloads (without the Engine.IO "4"),
// [Decoder.Binary] for the attachments of a binary packet. Every malformed input fails with an error
// wrapping [ErrParse]; Socket.IO has no per-packet error reply, so the connection should then be closed
// (the reference server closes it too).
//
// # Mapping
//
// The namespace "/" is written without a prefix; any other as "/ns," before the ack id and payload.
// Decoding always yields a namespace starting with "/"; encoding treats "" as "/".
//
//	Socket.IO packet                         packet.Packet
//	0 CONNECT        0/ns,{"token":"x"}      KindConnect{Namespace, Data: the auth object, nil when absent}
//	                 0/ns,{"sid":"…"}        KindConnected{Namespace, SID} (encoded only)
//	                 0/ns,{"sid":"…","pid":"…"}  KindConnected{Namespace, SID, PID} (recovery on)
//	1 DISCONNECT     1/ns,                   KindDisconnect{Namespace}
//	2 EVENT          2/ns,12["name",a,b]     KindEvent{Namespace, Name, Args, AckID: 13}
//	3 ACK            3/ns,12[a,b]            KindAck{Namespace, Args, AckID: 13}
//	4 CONNECT_ERROR  4/ns,{"message":"…","data":d}  KindConnectError{Namespace, Message, Data: d}
//	5 BINARY_EVENT   51-/ns,12["name",{"_placeholder":true,"num":0}] + attachment  KindEvent
//	6 BINARY_ACK     61-/ns,12[{"_placeholder":true,"num":0}] + attachment         KindAck
//
// An EVENT packet with a non-empty Offset (connection state recovery) gets the offset appended as its
// last argument, a JSON string, as the reference server writes it; clients see it as one more argument.
//
// The Decoder does not know which side of the connection it runs on: a CONNECT always decodes to
// KindConnect with its payload in Data (a client reads the sid from there), and a CONNECT_ERROR to
// KindConnectError (a server should reject it, as it rejects KindConnected from the native protocol).
// KindPing, KindPong and KindError have no Socket.IO form (heartbeats belong to Engine.IO): the Encoder
// returns nil for them, and callers must not send them to a Socket.IO connection.
//
// # Ack ids
//
// Socket.IO ack ids start at 0, but [packet.Packet] reserves AckID 0 for "no ack". The codec therefore
// shifts ids by one: Socket.IO id N decodes to AckID N+1, and AckID A encodes as Socket.IO id A-1 (AckID
// 0 writes no id). Ack ids are opaque to the engine, which only echoes a client's id back in its ack and
// allocates its own ids from 1, so the shift is invisible on the wire: a client that sends id 0 gets its
// ACK with id 0. An ACK without an id decodes to AckID 0 (the engine finds no pending ack for it), and
// Socket.IO id 18446744073709551615, which has no shifted form, is a parse error.
//
// # Binary data
//
// A [packet.Arg] with Binary set is a top-level binary argument. A JSON Arg's Attachments holds the
// attachments referenced by placeholders nested inside it; a nested placeholder's "num" is an index into
// that argument's Attachments. Keeping them per argument lets the engine re-emit received arguments in
// any order or mix, with every buffer in place. A packet with binary data is encoded as BINARY_EVENT or
// BINARY_ACK, its attachments numbered in document order as socket.io-client does: argument by argument,
// a binary argument replaced by its placeholder, a JSON argument's attachments taking the next numbers
// (its placeholders' "num" shifted by the attachments before it; an argument with nothing before it is
// written as it is). [Attachments] returns the frames in that order.
//
// Decoding does the reverse. A placeholder that is a top-level element of the payload array becomes a
// binary Arg; placeholders nested deeper stay in the JSON text and their attachments go to the
// Attachments of the argument they are in, in ascending order of their wire "num". When an argument's
// wire numbers are not already 0 to k-1 (a nested attachment after a top-level one is 1), its "num"
// values are rewritten to the new indexes; nothing else in the argument changes. Placeholders are only recognised in binary packets, as in the reference
// parser; an object with "_placeholder":true is a placeholder whatever other keys it has, and its "num"
// must be an integer below the announced attachment count.
//
// # JSON
//
// Arguments are relayed byte for byte: each element of the payload array is kept as its raw JSON text,
// so key order, number formatting and string escapes are preserved, and encoding writes each argument's
// bytes as they are. Insignificant whitespace is the one thing dropped, so decoded JSON is compact as
// socket.io-client's. Strings the codec writes itself (event names, sids, error messages) are escaped as
// JavaScript's JSON.stringify does: no HTML escaping, invalid UTF-8 becomes U+FFFD. A text payload must
// be valid UTF-8, since it is relayed into other clients' WebSocket text frames.
//
// # Memory and concurrency
//
// Decoded packets alias the buffers passed to Text and Binary (arguments, auth data and attachments are
// sub-slices, not copies): the caller must not modify a buffer after passing it. Encoder and Attachments
// are safe for concurrent use and do not modify the packet. A Decoder holds one connection's state and is
// not safe for concurrent use. A Conn's transport.Conn methods are safe for concurrent use; its
// engineio.Handler methods are called serially by its Engine.IO session.
//
// # Imports
//
// socketio imports internal/packet, package transport (the seam it implements) and transport/engineio.
// It must not import engine, actors, cluster, the client, transport/native or transport/wire: the native
// protocol is a sibling front-end, not a dependency.
package socketio
