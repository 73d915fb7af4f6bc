// Package actors holds roomio's actors: one namespace actor per namespace, one room actor per room with
// local members, and one socket actor per connected socket (DESIGN §3), plus the messages they exchange.
//
// # The broadcast path
//
// An emit is one immutable [Broadcast]. It enters the namespace actor, which sends one [Deliver] per
// target room to that room's actor (or, for a socket's own-id room, straight to the socket actor), or to
// every socket for a namespace-wide emit. A room actor fans the same *delivery out to its members. The
// socket actor filters: it drops a delivery that reached it through a room other than the first target
// room it is a member of (so a union reaches it once) and one whose except-rooms it is in, and queues
// the packet on its connection. Nothing is copied on the way; the packet is encoded once per wire format.
//
// # Concurrency
//
// The mailbox is the lock: room membership, socket room sets and the room registry are touched only by
// their actor's Receive. [Collector] is the one shared structure, safe for concurrent use; it counts
// delivery legs so that acks, fetches and joins know when every recipient has been reached.
package actors
