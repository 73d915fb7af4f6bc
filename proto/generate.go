// Package proto holds roomio's protobuf schemas and the Go code generated from them.
//
// The generated code is committed. Regenerate it with `go generate ./...` from the repository root,
// which runs buf at the pinned version below; CI fails when the committed code is stale.
package proto

//go:generate sh -c "cd .. && go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate"
