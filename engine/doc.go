// Package engine is roomio's public API: Socket.IO's model — namespaces, rooms, broadcasts, acks —
// served over WebSockets, with every room and every socket an actor.
//
// # Entry points
//
//	e, err := engine.New(engine.Config{})      // the zero Config works
//	e.OnConnection(func(s *engine.Socket) {     // namespace "/"; e.Of("/admin") for others
//		s.Join(s.Context(), "lobby")            // the socket's context ends when it disconnects
//		s.On("say", func(ev *engine.Event) {
//			s.To("lobby").Emit("said", ev.Args[0]) // everyone in lobby but the sender
//			ev.Ack("ok")                        // a no-op when the client asked for no ack
//		})
//	})
//	err = e.Start(ctx)
//	mux.Handle("/ws", e.Handler())              // the native protocol endpoint
//	mux.Handle("/socket.io/", e.SocketIOHandler())
//	...
//	e.Shutdown(ctx)                             // drain, close with 1001, stop every actor; then the http.Server
//
// Broadcasts are built with [BroadcastOperator]: e.To("a").To("b").Except("c").Emit(...) reaches the
// union of a and b once per socket, minus c. Socket.To and Socket.Broadcast exclude the sender.
// Timeout(d).EmitWithAck collects every recipient's ack; FetchSockets, SocketsJoin, SocketsLeave and
// DisconnectSockets act on the selected sockets.
//
// # Behaviour rooms
//
// Namespace.Define gives rooms code of their own ([Behavior], run in the room's actor). In a cluster a
// behaviour room lives on one node (placement.go) and moves when the membership changes (handoff.go):
// a [Snapshotter] carries its state, WithReplication keeps a copy on the next node so it survives the
// loss of its node; docs/behaviors.md has the rules.
//
// # Authentication and readiness
//
// Config.Auth runs an [Authenticator] before every namespace connect (package engine/auth verifies JWTs
// and calls HTTP hooks): its [Identity] gives Socket.UserID, the rooms joined at connect, the rooms
// Socket.Join may add, and an expiry that disconnects the socket unless the client sends [RefreshEvent].
// Engine.Readiness says when a node should get traffic (started and, in a cluster, synced with its
// peers). docs/operations.md has the node's view of both.
//
// # Monitoring
//
// Stats, Counters (traffic, errors by cause, the emit latency histogram), ConnectionsByTransport,
// ClusterStats, ClusterMembers, ClusterPeers and RecoveryStats are read without stopping anything;
// Observer reports socket and room events. Package engine/metrics exports them all to Prometheus. The
// counting on the hot paths is plain atomics, sharded per connection where the fan-out runs.
//
// # Packages below
//
// engine wires actors (the namespace, room and socket actors), the transport front-ends (native
// WebSocket, Engine.IO/Socket.IO) and, with Config.Cluster, the cluster packages. None of their types
// appear in this package's API except transport.Handshake inside Handshake. docs/architecture.md has the
// map and the path of an emit, file by file.
//
// # Concurrency
//
// Every method is safe for concurrent use. A socket's event handlers run one at a time, in arrival order,
// on a goroutine of that socket: a handler may block (a database call, EmitWithAck) without holding up
// other sockets, but while it blocks the socket's later events wait, and past Config.EventQueueSize
// waiting events the connection's reader stops reading. Before each client event the socket also waits
// while the node's broadcasts in flight are at Config.MaxBroadcastsInFlight (flow.go), and the reader
// waits for the connection's rate limit (Config.RateLimit): both stop a fast client through TCP rather
// than buffering it. Connect middlewares and connection handlers run
// on the same goroutine, before the first event. Room hooks (OnCreateRoom and friends) run in order on a
// goroutine of the namespace; they must not block for long: past 1024 waiting events they are dropped
// and counted (DroppedHookEvents), never stalling the namespace. Behaviour rooms (Namespace.Define) run
// their hooks inside their own actor, one at a time: see Behavior and docs/behaviors.md.
// Namespace.Rooms lists them cluster-wide from what each room publishes (no actor is entered), and
// Socket.JoinOrCreate asks the behaviour's one matchmaker in the cluster, a goroutine that exists while
// requests wait (listing.go, matchmaking.go).
//
// # Guarantees
//
// Delivery is at-most-once. Messages from one emitter to the same target arrive at each socket in the
// order they were emitted; a union reaches a socket once; except-rooms are exact; once Join returns, an
// emit begun afterwards reaches the socket. Each connection has a bounded outbound queue: when it is full
// a volatile message is dropped, any other disconnects the slow client (close code 4002). See
// docs/guarantees.md.
package engine
