// Package web holds the browser side of roomio that the node serves over HTTP: roomio.js, a small
// dependency-free ES module client for the native protocol's JSON mapping (subprotocol roomio.v1.json),
// and index.html, a chat demo page for the node's built-in chat app.
//
// # Entry points
//
// [Handler] serves the embedded files: "/" is the demo page and "/roomio.js" the client. Every other path
// is 404; there is no directory listing. The files are compiled into the binary with go:embed, so the
// handler needs no files on disk.
//
// # Concurrency
//
// The handler is safe for concurrent use; it only reads the embedded files.
package web
