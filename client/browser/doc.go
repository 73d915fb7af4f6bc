// Package browser serves roomio.js, roomio's dependency-free browser client, so that any program that
// embeds the engine can hand it to its pages.
//
// roomio.js is an ES module that speaks the native protocol's JSON mapping (WebSocket subprotocol
// roomio.v1.json) with a small subset of socket.io-client's API: connect, on/off/once, emit and
// emitWithAck, reconnection with backoff. Its header comment documents the API; the file is roomio.js in
// this directory.
//
// # Entry points
//
// [Handler] serves the script from memory at whatever path it is mounted on; pages import it from there:
//
//	mux.Handle("GET /roomio.js", browser.Handler())
//	mux.Handle("/ws", eng.Handler())
//	// in the page: import { connect } from "/roomio.js"; connect("/ws")
//
// [Script] returns the file's bytes, for programs that bundle or serve it themselves.
//
// The script is compiled into the binary with go:embed, so nothing has to be on disk at run time.
//
// # Concurrency
//
// The handler and Script are safe for concurrent use; they only read the embedded file.
//
// # Imports
//
// Only the standard library: no roomio package, so importing it pulls in neither the engine nor the Go
// client.
package browser
