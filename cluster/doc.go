// Package cluster joins roomio nodes into a cluster: membership and failure detection with memberlist,
// and cross-node delivery of roomio.cluster.v1.Envelope messages (package clusterv1) to each node's
// router actor.
//
// # Entry points
//
// [New] validates a [Config] and allocates a [Node]; [Node.Start] starts it and joins Config.Seeds;
// [Node.Send] and [Node.SendMany] queue envelopes for peers; [Node.Leave] and [Node.Shutdown] end it.
// A [Handler] sees membership changes and incoming envelopes.
//
// # Membership
//
// Each node gossips, in memberlist's node metadata (at most 512 bytes), its id, the address of its
// stream listener and [ProtocolVersion]. A peer with another version, or with metadata this version
// cannot read, is never reported and never sent to. Node ids are fresh per process start unless
// Config.NodeID is set, so a restarted process is a new node. memberlist's LAN defaults detect a crashed
// node in several seconds (Config.ProbeInterval trades traffic for speed); a node that leaves with
// [Node.Leave] or [Node.Shutdown] is reported down by its peers at once.
//
// memberlist calls its event callbacks with its node lock held. The callbacks here only decode the
// metadata and post a message to the router actor; nothing calls back into memberlist.
//
// # The router
//
// Every node runs one router actor, registered as [RouterName] in Config.System. Its mailbox carries
// membership changes (from memberlist) and incoming envelopes (from every peer's stream), so the
// Handler sees them in one total order, one call at a time: after MemberDown(x), no envelope from x is
// delivered unless a MemberUp(x) came first. An envelope may arrive before its sender's MemberUp
// (gossip can lag a stream); it is delivered, with a Member that carries only ID and Version.
//
// # Transport
//
// Nodes talk over protoactor's remote wire protocol — the gRPC service Remoting from
// github.com/asynkron/protoactor-go/remote, one bidirectional stream per ordered pair of nodes, a
// ConnectRequest handshake, then MessageBatch frames addressed to the peer's router — but this package
// serves and dials that service itself instead of running protoactor's remote runtime
// (remote.NewRemote / Start). The runtime was measured unfit for four reasons:
//
//   - Its outbound endpoint queues are unbounded and give no backpressure: 200 000 envelopes of 1 KB
//     sent with Root.Send to a peer that accepted TCP but never answered grew the heap by 262 MB. A
//     bounded queue in front of Root.Send would bound nothing.
//   - Its reader dereferences a nil message type for a type name the process does not know: one
//     unknown message crashes the receiving process. Here, anything but a roomio.cluster.v1.Envelope
//     addressed to the router is counted (Stats.Rejected) and dropped.
//   - remote.Start panics when it cannot listen, and replaces the process-global gRPC logger on every
//     call, which races with an already running remote under the race detector (two nodes in one
//     process). Here, a listen failure is an error from Start, and the gRPC logger is installed once.
//   - Its graceful shutdown can wait 10 s for gRPC and its reader has an unsynchronised suspend flag.
//
// Each peer has one sending goroutine that drains a bounded FIFO ([Config].PeerQueue envelopes) into
// its stream, batching whatever is queued into gRPC messages of up to 1024 envelopes or 1 MiB. gRPC's
// Send blocks while HTTP/2 flow control says the peer is not reading, so a slow peer fills the queue and
// further envelopes are dropped and counted ([ErrQueueFull], Stats.Dropped): memory per peer is at most
// PeerQueue encoded envelopes plus gRPC's per-stream buffers. A broken stream is reopened with backoff
// while the peer is a member; the batch being written when it broke is lost. Delivery is therefore at
// most once and in order per sender: what arrives is a subsequence of what was sent, in send order.
// [Node.PeerStats] gives the same counters per live peer, with its queue length and stream state.
//
// On the receiving side, a stream handler reads a batch, rejects what is not acceptable and hands each
// envelope to the router. At most [Config].InboundQueue envelopes wait in the router's mailbox; beyond
// that the handlers stop reading, HTTP/2 flow control stops the senders and their queues drop. A
// Handler slower than the wire therefore costs bounded memory on both sides.
//
// Measured here (2 cores, both nodes in one process, BenchmarkSend): about 600 000 envelopes of ~120
// bytes per second one way, 7 allocations per envelope across both sides.
//
// # Authentication
//
// With Config.Key set, gossip is encrypted and authenticated with it (memberlist's keyring), and every
// stream carries HMAC-SHA256(Key, "roomio-remote-v1") in its gRPC metadata; a server interceptor refuses
// a stream without it before any message of the stream is decoded. The token authenticates; stream
// traffic itself is not encrypted, so nodes should talk over a private network. Without a key, anything
// that can reach the ports is trusted.
//
// Authentication failures — streams refused by the interceptor, gossip that memberlist's keyring
// refuses — are counted (Stats.AuthFailures) and logged at Warn at most once per kind (stream, gossip)
// every 10 s, each line with the number of failures it stands for (suppressed) and the running total,
// so whoever can reach the ports cannot flood the log. memberlist reports its refusals only as log
// lines; they are recognised by their text (memberlist v0.7.0).
//
// # gRPC's global logger
//
// gRPC logs through one process-global logger, set with grpclog.SetLoggerV2 and read without
// synchronisation. The first Node.Start in a process installs a forwarder there, once; every Start
// points the forwarder at its own Config.Logger, so gRPC's logs go to the most recently started node's
// logger (gRPC's info and warnings at Debug, its errors at Warn). A program that uses gRPC for other
// things should start its node before any other gRPC activity.
//
// # Lifecycle
//
// A Node moves through New → Starting → Running → (Left) → Closing → Closed, under one lock, and never
// back: Start moves it from New to Running (or, on error, to Closed), Leave from Running to Left,
// Shutdown from any state to Closing and, once everything it started has stopped, to Closed. Send
// works while the node is Running or Left.
//
// # Concurrency
//
// All Node methods are safe for concurrent use. Handler methods run on the router actor, one at a
// time, and must not block; they may call Send, SendMany, Members and Stats, but not Leave or Shutdown
// (Shutdown waits for the router to stop). Shutdown stops everything the node started and waits for its
// goroutines.
//
// # Imports
//
// Package cluster carries envelopes and knows nothing of rooms or sockets: it imports the generated
// protocol packages only, never actors, transport or engine. Package engine connects it to the actors
// (through internal/clusterlink). Subpackages: [github.com/roomio/roomio/cluster/tunnel] relays HTTP
// requests over the cluster, and [github.com/roomio/roomio/cluster/clustertest] helps test code built
// on this package.
package cluster
