// Package tunnel relays HTTP requests between the nodes of a cluster, over the cluster's envelopes, so
// that a deployment needs no sticky sessions: a request that a load balancer sent to one node is served
// by the node that holds its session.
//
// A tunnel is a byte stream between the node where a request arrived (the opener) and the node that
// serves it (the acceptor), carried by TunnelOpen, TunnelData and TunnelClose envelopes
// (package clusterv1):
//
//   - On the opener, [Tunnels.Forward] hands the request to an httputil.ReverseProxy whose Transport
//     dials tunnels instead of TCP (one tunnel per request, closed after the response), so the request
//     goes out as HTTP/1.1 with its headers, body and Host, and a WebSocket upgrade is relayed by
//     ReverseProxy's upgrade support.
//   - On the acceptor, each tunnel is a net.Conn that an internal net.Listener gives to an http.Server
//     serving Config.Handler, which therefore serves it exactly as a direct connection (a WebSocket
//     library may hijack it for an upgrade).
//
// The cluster delivers envelopes in order per pair of nodes, at most once, and drops them when a peer's
// queue is full. A tunnel therefore numbers its bytes (a gap resets it), treats a failed Send as a
// reset, and sends only what the other side has room for (credit-based flow control, 1 MiB ahead of
// the reader): a slow reader slows the writer, as TCP would, instead of filling the cluster's queues.
//
// # Entry points
//
// [New] takes a [Config]: this node's id, a Send function (cluster.Node.Send), an IsPeer function and
// the http.Handler that serves relayed requests. [Tunnels.Start] starts serving, [Tunnels.Forward]
// relays a request, [Tunnels.Receive] takes the tunnel envelopes the node receives,
// [Tunnels.MemberDown] resets the tunnels to a departed node, and [Tunnels.Shutdown] ends them all.
//
// # Concurrency
//
// All methods are safe for concurrent use. Receive and MemberDown only buffer and signal, so they may
// run on the cluster node's router, which must not block. Shutdown waits for the HTTP server and the
// requests being relayed. Locks: a conn's lock is taken before the Tunnels' lock, never after.
//
// # Imports
//
// This package depends only on the cluster protocol (proto/roomio/cluster/v1) and the standard
// library; it must not import engine, actors or transport. The engine wires it to its cluster node.
package tunnel
