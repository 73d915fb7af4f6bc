// Package engineio is an Engine.IO v4 server: the transport layer of Socket.IO, with HTTP long-polling,
// WebSocket, and upgrades from the first to the second, as specified in the engine.io-protocol
// repository (its README is the spec cited in comments as "Transports", "Heartbeat", "Upgrade", …).
//
// # Entry points
//
// [NewServer] returns a [Server], an http.Handler to mount at any path (/engine.io/ by default in
// Engine.IO clients, /socket.io/ for Socket.IO). Options.OnSession is called for every new [Session] and
// sets its [Handler], which receives the session's messages and, once, its end. The session sends with
// [Session.SendFrames] (whole Engine.IO packets, possibly binary) or [Session.SendMessage], and ends with
// [Session.Close]. [Server.Shutdown] ends every session and waits for all of the server's goroutines.
// [AppendPayload] and [DecodePayload] are the long-polling payload codec, for clients.
//
// # Transports
//
// A long-polling session is served by its requests: a GET waits until frames are queued and answers
// with all of them; a POST carries packets, which are handled before the POST is answered, so the
// replies they cause are queued when the client polls again. A WebSocket session has no goroutine while
// it is idle. Its reader is started for it so that the request's goroutine and net/http's state for the
// connection end after the handshake (coder/websocket gets small buffers, [transport.UpgradeWriter]),
// and runs only while there is something to read: once it has taken every byte that came off the
// socket, it parks the connection in the server's poller (package transport/netpoll) and its goroutine
// ends; the poller starts it again when the socket is readable or closed, and the reader that sees the
// end runs the WebSocket's end path. Every close of the socket goes through [transport.BatchConn.Close],
// which takes the connection out of the poller first. A session upgraded from long-polling parks the
// same way once upgraded (its connection exposes its descriptor through the upgrade's wrapper); a
// connection without a descriptor (TLS) keeps a reader blocked in its reads.
// Its writer is started by the push that finds the queue idle and ends when the queue is empty: it writes
// everything queued as one batch, one write to the socket with one deadline (Options.WriteTimeout),
// framing the messages itself ([transport.BatchConn]); below saturation the push that finds the queue
// idle writes itself instead, with one non-blocking write ([transport.Queue.SetInline]), and starts the
// writer only for what the socket did not take. Both kinds share one bounded outbound queue per
// session ([transport.Queue]): a client that does not read fast enough is disconnected ("slow client")
// rather than allowed to grow the server's memory. Inbound, POST bodies and WebSocket messages are
// limited to Options.MaxPayload.
//
// # Upgrade
//
// A WebSocket that names a long-polling session upgrades it ("Upgrade"): the client probes with
// "2probe", the server answers "3probe" and ends the pending poll with a noop, the client sends "5" once
// that poll is answered, and the session moves to the WebSocket. Polls and WebSocket are two
// connections, which keep no order between them, so a poll that arrives during the upgrade waits until
// the WebSocket's reader has taken every byte that had reached the server before the poll (type probeConn:
// the reader's connection records when it finds nothing more to read); then the poll sees the session
// as the client left it: refused when the client sent "5" first, answered with a noop otherwise. No
// timer decides it, and a client that follows the protocol is never held: it sends nothing on the
// WebSocket while it waits for its poll. (Where the connection has no file descriptor to look at, TLS
// for instance, the poll does not wait.) A poll counts as given up by its client (the session closes
// with "transport error") only when the client closed its connection before the answer was written;
// Node.js clients close it right after reading every answer.
//
// # Heartbeat
//
// Every session has a timer (no goroutine), which sends a ping every PingInterval and closes the session
// with "ping timeout" when the pong does not come within PingTimeout. Each HTTP request also checks the
// deadline on arrival, so a late timer never lets a late request through. When a session closes, a
// goroutine of its own waits (bounded) for its transports to deliver what they should, then calls
// Handler.OnClose.
//
// # Several servers without sticky sessions
//
// Every request after the handshake names its session with the sid query parameter. Options.NewSID
// chooses the ids, so several servers can embed their own name in them; Options.Forward receives any
// request whose sid names no session of this server, before any other check, and can relay it to the
// server that owns the session (package engine does so over its cluster).
//
// # Concurrency
//
// Server and Session methods are safe for concurrent use. A session's Handler methods are called
// serially, in the order the client's packets arrived, OnClose last; they must not block for long.
//
// # Imports
//
// engineio knows nothing of Socket.IO packets: it imports only package transport (the bounded Queue, the
// Handshake, the close codes and disconnect reasons, ErrSlowClient and ErrClosed) and transport/netpoll
// (the poller that holds idle WebSockets). It must not import
// transport/socketio (which builds on it), transport/native, transport/wire, internal/packet, engine,
// actors, cluster or the client.
package engineio
