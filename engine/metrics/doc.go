// Package metrics exports a roomio engine's state and counters to Prometheus.
//
// Entry point: NewCollector(e) returns a prometheus.Collector for an *engine.Engine; register it in any
// registry (the node binary serves its own at GET /metrics on the API listener, with the Go runtime and
// process collectors). Every metric is named roomio_*; docs/operations.md ("Metrics") lists them.
//
// What it reads, and when: everything but four counters is read at scrape time from the engine's own
// accessors (Stats, Counters, ConnectionsByTransport, Namespaces and their SocketCount, RecoveryStats,
// DroppedHookEvents, ClusterStats, ClusterMembers, ClusterPeers, Readiness), so the engine's hot paths
// carry no Prometheus code at all: they add to plain atomics. The socket connect/disconnect and room
// join/leave counters come from an engine.Observer that NewCollector registers; they count from that
// call on, and like every observer event they are dropped when a namespace's hook queue is full
// (roomio_hook_events_dropped_total counts those).
//
// Concurrency: a Collector is safe for concurrent scrapes. Observers cannot be removed from an engine,
// so create one Collector per engine and register it in as many registries as needed.
//
// Imports: engine and client_golang only; no other roomio package.
package metrics
