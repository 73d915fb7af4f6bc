// Package client is the Go client for roomio's native protocol (proto/roomio/wire/v1): it lets tests,
// tools and Go programs act as users of a roomio server.
//
// # Entry points
//
// [Dial] opens one WebSocket, speaking binary protobuf frames (subprotocol roomio.v1.proto, the
// default) or the protobuf JSON mapping (roomio.v1.json, see [Options].Format). [Client.Connect] joins a
// namespace over it and returns a [Socket]; several namespaces share one connection. A Socket emits
// with [Socket.Emit] and [Socket.EmitWithAck] and receives through handlers ([Socket.On],
// [Socket.OnAny]) or channels ([Socket.Events]):
//
//	c, err := client.Dial(ctx, "ws://localhost:8080/ws", client.Options{})
//	if err != nil { ... }
//	defer c.Close()
//	s, err := c.Connect(ctx, "/chat", map[string]string{"token": tok})
//	if err != nil { ... } // a *ConnectError when the server refused
//	msgs := s.Events("message", 16)
//	err = s.Emit(ctx, "message", "hello")
//	ev := <-msgs
//
// Arguments are [Arg] values: JSON text, or bytes when Binary is set. Emit converts Go values: []byte
// becomes a binary argument, json.RawMessage and Arg are sent as they are, anything else goes through
// encoding/json.
//
// # Connection lifecycle
//
// The client answers the server's pings itself. When the server closes the connection, Sockets report
// a reason to [Socket.OnDisconnect] ("transport close: 4002 slow client"), and [Client.Err] and
// [Socket.Err] return a [*CloseError] (see [CloseCode]). With [Options].Reconnect the client redials with
// jittered exponential backoff and connects every namespace again with the same auth; a namespace the
// server disconnected ("io server disconnect") is not connected again. When the server keeps sockets for
// recovery, each namespace presents its resume token and the offset of the last event it received: a
// recovered Socket keeps its ID and rooms, [Socket.Recovered] reports true, and the events it missed
// reach its handlers after the OnReconnect hooks (docs/recovery.md). [Client.Close] closes with code
// 1000 and waits for everything the Client started.
//
// # Concurrency
//
// Client and Socket methods are safe for concurrent use. A Socket's handlers and hooks run one at a
// time, in arrival order, on a goroutine of the Client, never on its read loop: they may call Emit and
// EmitWithAck, but they should return promptly because the Socket's later events wait for them. The
// Client's own hooks ([Client.OnPing], [Client.OnError]) run on another such goroutine.
//
// # Imports
//
// client speaks the protocol through package transport/wire (the native codec and its error codes) and
// uses internal/packet and proto/roomio/wire/v1. It must not import package transport, transport/native
// or any other server-side package (engine, actors, cluster): a program that only dials a roomio server
// does not compile the server.
package client
