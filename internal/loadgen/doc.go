// Package loadgen is the engine of roomio-bench (cmd/roomio-bench): a load generator that acts as many
// clients of a Socket.IO server or a roomio node, runs a scenario against it and measures what comes back.
//
// # Entry points
//
// [Run] takes a [Config] (the scenario, the protocol, the numbers) and returns a [Result], whose JSON
// form is the tool's -json output (schema [SchemaVersion]). [WriteHTML] turns a Result into a
// self-contained HTML report with inline SVG charts. [ReadResults] reads back Results appended into one
// file and [Compare] prints the A/B table of those labelled "A:<scenario>" and "B:<scenario>" (medians,
// B/A ratios, RATIO lines): scripts/bench/compare.sh's output.
//
// # Scenarios
//
//   - [Fanout]: every client joins one room; the first Publishers emit into it.
//   - [ManyRooms]: clients are spread round-robin over Rooms rooms; every client emits into its room, or
//     with fewer Publishers than Clients, those are dedicated publishers in every room that emit into
//     the rooms in turn.
//   - [Idle]: clients connect (and join one of Rooms rooms, if any) and stay connected for Duration.
//   - [ConnectStorm]: clients connect as fast as Concurrency allows, then leave.
//
// Publishers emit at Rate per second each, or flat out with Window emits in flight (the next goes when
// one comes back to its sender). All clients have joined before the first emit, so Fanout and ManyRooms
// are closed: each emit must reach every member of its room exactly once, and the Result counts what is
// expected, missing and duplicated.
//
// # Server figures
//
// With Config.PIDs, the run reads the server processes' CPU time (/proc/PID/stat) and VmRSS
// (/proc/PID/status) before the first connect and at both ends of the measured window — from the moment
// every client connected and joined until the drain or the hold ends — and reports them as
// [ServerStats]: CPU µs per delivery, and for Idle RSS KiB per connection.
//
// # The server's contract
//
// By default the chat contract of examples/chat/chatapp, which the roomio node serves on "/":
// join(room) with an ack ({"ok":false,"error":…} is a refusal), say(room, payload), and said
// {room, from, payload} to every member of the room, sender included. Config.JoinEvent, SayEvent,
// SaidEvent and SayArgs adapt the tool to a server with other names or argument orders. The payload is
// {"rbts":[publisher, sequence, emit time],"pad":"…"}: receivers find it anywhere in the said event's
// arguments, and the latency of a delivery is the receipt time minus the emit time, both read from one
// monotonic clock of this process.
//
// # Protocols
//
// [SocketIO] and [SocketIOPolling] are Socket.IO v5 over Engine.IO v4 written here against the wire
// protocol (socket.io-protocol and engine.io-protocol): the handshake, heartbeat answers, namespace
// CONNECT/CONNECT_ERROR, EVENT and ACK; WebSocket from the first request, or long-polling with one GET and
// one POST outstanding and no upgrade. Binary packets are skipped (the tool sends JSON only). [Native] is
// roomio's native protocol through package client.
//
// # Concurrency
//
// Run starts one goroutine per connection being opened (at most Concurrency), one per publisher, one
// for progress, and each connection's own (a WebSocket reader; a polling GET loop and POST loop; package
// client's), and waits for all of them before it returns. Counters are atomics; each connection's
// receiving side touches only its own state. Config.Progress is written from one goroutine.
//
// # Imports
//
// loadgen is a client tool: it imports package client (and through it transport/wire), never engine,
// actors, cluster or the transport servers, so it builds into a program that does not contain a server.
// Its tests start a real node (engine and the chat app) to run against.
package loadgen
