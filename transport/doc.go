// Package transport holds what roomio's connection front-ends share: the seam between a front-end and the
// engine ([Conn], [Acceptor], [Session]), the bounded outbound [Queue] with its overflow policy, the
// documented close codes and disconnect reasons, the request [Handshake], and the per-connection bounds
// both front-ends apply at the handshake: [AddrLimit] (connections per remote IP address, 429 beyond)
// and [KeepHandshake] (the opening request's details as a connection keeps them, its headers
// bounded); and the [Meter] both front-ends count on (messages and bytes each way, volatile drops,
// refused handshakes), sharded so that counting on the fan-out path costs an uncontended atomic add.
//
// A front-end (package transport/native for roomio's own protocol, transport/engineio with
// transport/socketio for Socket.IO) owns one connection: it runs one reader, which decodes frames and
// calls the [Session] the engine returned from [Acceptor.Open], and a writer, which drains the
// connection's [Queue] and exists only while there is something to write ([Queue.SetDrain]). A WebSocket
// is accepted through an [UpgradeWriter], which gives coder/websocket small buffers and a [BatchConn]:
// the writer corks it, frames a batch of messages into it, and uncorks it, one write to the socket per
// batch. The push that finds a connection idle writes instead, on its own goroutine, with one
// non-blocking write ([Queue.SetInline], [BatchConn.TryUncork]); what the socket does not take is left
// to the writer. Inline writes are bounded process-wide ([InlineShare]). The reader runs only while there
// is something to read: [UpgradeWriter.Reader] tells when it has taken every byte that came off the
// socket, and the front-end then parks the connection in package transport/netpoll once no more bytes
// came for [QuietBeforePark]; every close of the
// socket goes through [BatchConn.Close], whose [BatchConn.OnClose] takes the connection out of the
// poller first. The engine answers by calling [Conn.Send]; it never touches the socket. The native
// protocol's codec and its per-message error codes live in package transport/wire, which the Go client
// imports without this package.
//
// # Concurrency
//
// Conn methods are safe for concurrent use. Session methods are called from the connection's reader
// only, one at a time (a resumed reader follows the one that parked), in the order the frames arrived;
// Session implementations must not block for long (they hand work to the engine's actors and
// executors).
//
// # Imports
//
// transport imports only internal/packet from roomio. It must not import its subpackages (they import
// it), engine, actors, cluster or client.
package transport
