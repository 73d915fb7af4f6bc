package engine

import (
	"context"
	"time"
)

// The Engine's operators act on the main namespace "/" (Socket.IO's io.to(...) and io.emit(...)).

func (e *Engine) main() *Namespace { return e.Of("/") }

// Use adds a connect middleware to namespace "/".
func (e *Engine) Use(fn func(*Socket) error) { e.main().Use(fn) }

// OnConnection adds a connection handler to namespace "/".
func (e *Engine) OnConnection(fn func(*Socket)) { e.main().OnConnection(fn) }

// To targets rooms of namespace "/".
func (e *Engine) To(rooms ...string) BroadcastOperator { return e.main().To(rooms...) }

// In is an alias of To.
func (e *Engine) In(rooms ...string) BroadcastOperator { return e.main().To(rooms...) }

// Except targets namespace "/" without the sockets in rooms.
func (e *Engine) Except(rooms ...string) BroadcastOperator { return e.main().Except(rooms...) }

// Volatile targets namespace "/" with droppable emits.
func (e *Engine) Volatile() BroadcastOperator { return e.main().Volatile() }

// Timeout targets namespace "/" with an EmitWithAck bound.
func (e *Engine) Timeout(d time.Duration) BroadcastOperator { return e.main().Timeout(d) }

// Emit sends an event to every socket of namespace "/".
func (e *Engine) Emit(event string, args ...any) error { return e.main().Emit(event, args...) }

// EmitWithAck sends an event to every socket of namespace "/" and collects the acks.
func (e *Engine) EmitWithAck(ctx context.Context, event string, args ...any) ([]AckReply, error) {
	return e.main().EmitWithAck(ctx, event, args...)
}

// FetchSockets returns the sockets of namespace "/".
func (e *Engine) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return e.main().FetchSockets(ctx)
}

// SocketsJoin makes every socket of namespace "/" join rooms.
func (e *Engine) SocketsJoin(ctx context.Context, rooms ...string) error {
	return e.main().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of namespace "/" leave rooms.
func (e *Engine) SocketsLeave(ctx context.Context, rooms ...string) error {
	return e.main().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of namespace "/".
func (e *Engine) DisconnectSockets(ctx context.Context, close bool) error {
	return e.main().DisconnectSockets(ctx, close)
}

// Local targets namespace "/" on this node only.
func (e *Engine) Local() BroadcastOperator { return e.main().Local() }
