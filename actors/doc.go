// Package actors holds roomio's actors and the messages they exchange: one namespace actor per
// namespace, one room actor per room that has local members, and one socket actor per connected socket.
// Each runs on protoactor-go. The package owns room membership (who is in which room, on this node),
// the routing of every broadcast to the sockets it selects, and the end of a socket.
//
// Its only importer is engine, and its exported identifiers are the ones engine needs: the actor system
// ([NewSystem]), the namespace actor ([NamespaceProps] with its [Hooks] and [Live] counters), the
// messages engine sends ([AddSocket], [JoinRooms], [LeaveRooms], [GetRooms], [CloseSocket],
// [Broadcast] with its [Op], and for placed rooms [JoinAnswer], [OwnerJoin], [OwnerLeave], [Rebalance]),
// the interfaces engine implements ([Handle], [Outbox], [Placement]) and the fan-out
// bookkeeping engine waits on ([Collector], [Result], [SocketInfo]). Everything else is unexported.
//
// # Actors
//
// The namespace actor is the registry: it spawns socket actors (AddSocket) and room actors as its
// children, counts each room's members, and routes broadcasts. A room actor is spawned on a room's first
// join and poisoned when its last member leaves, as Socket.IO deletes empty rooms; [Hooks] report both
// and every join and leave. A socket actor holds the socket's room set (its own id included, which has
// no room actor: deliveries to it go straight to the socket) and filters what reaches the connection.
// Every socket actor of a namespace is spawned from one Props (its producer returns the actor AddSocket
// built, on the namespace's goroutine), so a socket actor is never restarted: a panic in it is logged
// and drops that message, and the actor goes on with its state.
//
// # Behaviour rooms
//
// When [Hooks].Behavior returns a [RoomSpec] for a new room, the namespace spawns a behaviour room
// actor instead (behavior.go): the same fan-out, plus the engine's [RoomHooks] run inside the actor with
// a [Room] handle. Such a room decides its joins: the socket holds the room as pending (its filter does
// not count it) until the room answers roomJoined or roomRefused (a [RefusedError] on the join's
// collector). Its membership is its own, so the namespace does not count its members; the room asks to
// be stopped (nsDispose) when it is empty, and the namespace agrees only if no join was sent to it
// since. [RoomMessage]s reach it through the namespace, bounded by RoomSpec.MaxPending; ticks and timers
// are messages the room sends itself from Go timers.
//
// In a cluster ([Hooks].Placement set) a behaviour room is placed on one node (placement.go): its
// owner's namespace runs the behaviour actor among its owned rooms, with the room's members of every
// node, while each node with members keeps them in a plain room (the proxy) and asks the owner to decide
// each join ([JoinAnswer] brings the decision back), to remove its leavers ([OwnerJoin], [OwnerLeave] on
// the owner's side) and to handle messages. The owner's emits go out through the Placement, as
// broadcasts to the proxies. [Rebalance] follows a membership change: proxies join their members again
// to a new owner, and an owner hands the rooms it lost over (handoff.go): the owner's actor of a room
// starts by pulling the room's state ([Placement].Pull) and holds its work until then; an owner that
// gives a room away ([StateRequest], a rebalance, [HandOffAll] at shutdown) drains, fences its emits,
// passes the [RoomState] and relays what still reaches it; a replicated room ([RoomSpec].Replicate)
// holds each hook's outputs until its replica node acknowledged the state ([ReplicaAck]).
//
// # The broadcast path
//
// An emit is one immutable [Broadcast]. It enters the namespace actor, which sends one delivery per
// target room to that room's actor (and, for a room named after a socket id, straight to that socket),
// or one to every socket for a namespace-wide emit. A room actor fans the same delivery out to its
// members. An emit is applied to each member by the room actor itself, through the socket's sockRef (its
// outbox, handle and room set): no socket actor is woken. The filter reads the socket's own room set: a
// broadcast to several rooms (a union) reaches a socket in more than one of them several times, and only
// the copy that came through the first target room it is a member of is taken; a socket in any
// except-room is skipped. The packet is then queued on the socket's [Outbox]. Other operations (fetch,
// join, leave, disconnect) go on to the socket actors, which apply the same filter. Nothing is copied on the way; the packet is encoded once per wire
// format. A broadcast with Settled set counts its deliveries in flight (each actor adds the legs it sends
// on, then settles its own), and Settled runs when the last actor is done with it: the engine bounds the
// broadcasts in the mailboxes with it.
//
// # Joins, leaves and the end of a socket
//
// A join (JoinRooms, or a Broadcast with OpJoin) updates the socket's room set, then the namespace adds
// the socket to each room actor; its [Collector] completes once every room actor holds the member, so an
// emit begun afterwards reaches the socket. A socket never leaves its own-id room; a join past
// AddSocket.MaxRooms records [ErrTooManyRooms]. The namespace may refuse a room (a [RoomLimit] shared by
// the engine's namespaces, [ErrRoomLimit]; a room named after another socket with
// Hooks.RefuseSocketRooms, [ErrSocketRoom]): it records the error and tells the socket, which drops the
// room from its set before the join's Collector completes.
//
// CloseSocket starts a handshake. Protoactor drops the messages left in a stopped actor's mailbox, and a
// dropped delivery would leave its collector waiting for its timeout. So the socket asks the namespace to
// forget it; the namespace asks each of the socket's rooms to drop it and tells the socket how many
// rooms will answer. Meanwhile the socket settles every delivery without acting on it, and stops only
// once the namespace and every room have confirmed. Since messages between two actors arrive in the
// order sent, nothing from them can follow their confirmation. Deliveries to an actor that has already
// stopped become dead letters, whose collector legs the subscriber installed by [NewSystem] settles.
// With CloseSocket.Drain the socket keeps handing emits to its Outbox until it stops (connection state
// recovery moves a detached socket to another node so), and CloseSocket.Stopped is called once it has.
//
// # Concurrency
//
// The mailbox is the lock: room membership and the room registry are touched only by their actor's
// Receive, one message at a time. The one exception is a socket's room set, which its actor alone
// writes, under a read-write lock, so that the actors fanning emits out can read it (sockRef); a
// socket's Outbox and Handle are safe for concurrent use, and emits reach them from room actors.
// [Collector] is the one shared mutable structure, safe for concurrent use; it counts delivery legs so
// that acks, fetches and joins know when every recipient has been reached. [Hooks] run inside the
// namespace actor and must not block. Stopping a namespace actor (PoisonFuture) stops its rooms and
// sockets first; [Live] reaches zero when every actor has stopped.
//
// # Imports
//
// actors may import proto/..., internal/packet and protoactor-go. It must not import transport,
// cluster, engine or client: the engine connects the actors to connections (through [Outbox] and
// [Handle]) and to other nodes (by sending them Broadcasts).
package actors
