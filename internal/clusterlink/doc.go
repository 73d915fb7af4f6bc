// Package clusterlink holds the engine's cluster-transport details that need no engine type: the
// conversions between the actors' messages and the cluster protocol (package clusterv1), the
// socket-id format that names a socket's node, and the interest table that decides which peers a room
// operation must reach.
//
// # Entry points
//
// [BroadcastToWire] and [BroadcastFromWire] convert a broadcast; [OpToWire] and [OpFromWire] map the
// operations one by one; [ArgsToWire] and [ArgsFromWire] convert event arguments. [QualifySID] and
// [NodeOfSID] build and read node-qualified socket ids. [Interest] is the interest table.
//
// # Concurrency
//
// The conversions are pure functions. Interest's methods are safe for concurrent use; the callbacks
// they take run under its lock and must not call back into it.
//
// # Imports
//
// Only package engine imports this package. It may import actors, internal/packet and the generated
// protocol packages; it must not import engine, cluster or transport, so that cluster and actors stay
// unaware of each other.
package clusterlink
