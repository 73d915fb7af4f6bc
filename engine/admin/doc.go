// Package admin serves the server side of the official Socket.IO Admin UI (npm @socket.io/admin-ui 0.5)
// on a roomio engine: the same admin namespace protocol that the package's Node instrument() speaks, so
// the UI (hosted at https://admin.socket.io or served from the package's ui/dist) can connect to a
// roomio node and list its sockets, rooms and clients, follow connects, disconnects, joins, leaves and
// received events live, and act on sockets (join, leave, disconnect, emit).
//
// # Entry points
//
//	a, err := admin.Instrument(e, admin.Config{Username: "admin", PasswordHash: hash})
//	defer a.Close()                            // after the engine's Shutdown
//
// Instrument before Engine.Start: the socket list and the live events cover what happens after it.
//
// # Protocol
//
// The UI connects a Socket.IO client to namespace Config.Namespace ("/admin") with auth
// {username, password} (or {sessionId} from an earlier login). The password is checked against a
// bcrypt hash, as the Node side does; a wrong one is refused with the connect error "invalid
// credentials", a right one gets a "session" event with a session id good for 24 hours. A connected
// admin gets "config" {supportedFeatures}, "all_sockets" and then, every StatsInterval, "server_stats";
// live events are socket_connected, socket_updated (transport upgrade), socket_disconnected,
// room_joined, room_left and event_received. The UI's actions are the events emit, join, leave and
// _disconnect; in read-only mode they are refused. docs/operations.md ("Admin UI") lists the shapes and
// what differs from the Node side.
//
// # Concurrency
//
// Admin's methods are safe for concurrent use. Instrument starts one goroutine (the stats ticker),
// which Close stops and waits for. Everything else runs on the engine's goroutines, through
// engine.Observer and the admin namespace's handlers.
//
// # Imports
//
// admin uses only the public API of package engine; it must not import anything else of roomio's.
package admin
