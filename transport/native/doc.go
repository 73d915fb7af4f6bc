// Package native is the WebSocket server of roomio's native protocol (docs/protocol.md): it upgrades
// HTTP requests, runs one connection per WebSocket, and hands the decoded packets to the engine through
// the seam of package transport. The codec it speaks with lives in package transport/wire.
//
// # Entry points
//
// [NewServer] returns a [Server], an http.Handler to mount at any path (the node mounts it at /ws);
// [Options] names every default. Every accepted connection is a [Conn], which implements
// transport.Conn and is given to Options.Acceptor. [Server.Shutdown] closes every connection with
// transport.CloseGoingAway and waits for their goroutines.
//
// # Connections
//
// The subprotocol selects the format (wire.FormatProto or wire.FormatJSON; a client that offers neither
// gets the JSON mapping). Each connection has one reader, which decodes frames, answers the client's
// pings and passes connects, events, acks and disconnects to its transport.Session; it runs on a
// goroutine started for it, so that the request's goroutine and net/http's state for the connection end
// after the upgrade, and coder/websocket gets small buffers (transport.UpgradeWriter). The reader runs
// only while there is something to read: once it has taken every byte that came off the socket, it
// parks the connection in the server's poller (package transport/netpoll) and its goroutine ends; the
// poller starts it again when the socket is readable or closed. Every close of the socket goes through
// transport.BatchConn.Close, which takes the connection out of the poller first; the reader that sees
// the end runs the connection's end path (the writer's end, Session.Closed). Its writer drains
// the connection's bounded transport.Queue, joining what is queued into frames of up to
// Options.MaxBatchBytes, all written with one write to the socket under one deadline
// (transport.BatchConn); it is started by the push that finds the queue idle and ends when the queue is
// empty, so an idle connection holds no goroutine (the server's poller holds one for all of them, and a
// few workers kept for the next resumes). Below saturation the push that finds the queue idle writes
// itself instead, with one non-blocking write (transport.Queue.SetInline), and starts the writer only
// for what the socket did not take. The heartbeat is a timer. A frame that does not decode closes the
// connection with a protocol close code
// (transport.CloseProtocolError, CloseUnsupportedData, CloseInvalidPayload); a single bad message is
// answered with an Error packet (wire.ErrCodeInvalid, wire.ErrCodeUnknownKind) and skipped. The server
// pings every Options.PingInterval and closes with transport.ClosePingTimeout when no pong comes back.
//
// # Concurrency
//
// Server and Conn methods are safe for concurrent use. Session methods are called from the
// connection's reader only (one goroutine at a time: a resumed reader follows the one that parked),
// in arrival order.
//
// # Imports
//
// native imports package transport (the seam, the queue, the close codes), transport/netpoll (the
// poller), transport/wire and internal/packet. It must not import engine, actors, cluster, the client
// or its sibling front-ends (transport/engineio, transport/socketio).
package native
