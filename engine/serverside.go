package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/roomio/roomio/actors"
	"github.com/roomio/roomio/internal/clusterlink"
	clusterv1 "github.com/roomio/roomio/proto/roomio/cluster/v1"
)

// ServerEvent is an event another node's server code sent with ServerSideEmit.
type ServerEvent struct {
	// Node is the id of the sending node.
	Node  string
	Name  string
	Args  []Arg
	reply func(args []Arg, err error) // nil when the sender asked for no ack
	acked atomic.Bool
}

// HasAck reports whether the sender waits for an answer.
func (ev *ServerEvent) HasAck() bool { return ev.reply != nil }

// Ack answers the event (converted as in Emit); only the first call sends.
func (ev *ServerEvent) Ack(args ...any) error {
	if ev.reply == nil {
		return errors.New("engine: server event has no ack")
	}
	a, err := toArgs(args)
	if err != nil {
		return err
	}
	if ev.acked.CompareAndSwap(false, true) {
		ev.reply(argsOut(a), nil)
	}
	return nil
}

// ServerReply is one node's answer to ServerSideEmitWithAck.
type ServerReply struct {
	Node string
	Args []Arg
	Err  error
}

// OnServerSideEmit adds a handler for events other nodes' server code sends to this namespace with
// ServerSideEmit (Socket.IO's io.on("…") for serverSideEmit). Handlers run one at a time, in arrival
// order, on a goroutine of the engine; they must not block for long.
func (n *Namespace) OnServerSideEmit(fn func(*ServerEvent)) {
	n.mu.Lock()
	n.serverHandlers = append(n.serverHandlers, fn)
	n.mu.Unlock()
}

// ServerSideEmit sends an event to the server code of every other node of the cluster (not to
// clients, and not to this node). On a single node it does nothing.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	_, err := n.serverSideEmit(context.Background(), false, event, args)
	return err
}

// ServerSideEmitWithAck sends an event to every other node's server code and waits for each node's
// answer, or for ctx: on timeout the answers so far come back with a *TimeoutError naming the nodes that
// did not answer. A node that leaves the cluster meanwhile is not waited for; a node whose namespace has
// no handler answers with an error.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]ServerReply, error) {
	return n.serverSideEmit(ctx, true, event, args)
}

func (n *Namespace) serverSideEmit(ctx context.Context, ack bool, event string, args []any) ([]ServerReply, error) {
	if reserved[event] || event == "" {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	a, err := toArgs(args)
	if err != nil {
		return nil, err
	}
	l := n.e.link
	if l == nil {
		return nil, nil
	}
	c := actors.NewCollector()
	for _, id := range l.targetNodes(n.name, nil) {
		msg := &clusterv1.ServerEvent{Namespace: n.name, Name: event, Args: clusterlink.ArgsToWire(a)}
		if ack {
			msg.RequestId = l.register(id, c)
		}
		if err := l.node.Send(id, &clusterv1.Envelope{Body: &clusterv1.Envelope_ServerEvent{ServerEvent: msg}}); err != nil && ack {
			l.settle(msg.RequestId)
		}
	}
	c.LegDone()
	if !ack {
		return nil, nil
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		res, expected, _ := c.Snapshot()
		err = &TimeoutError{Answered: len(res), Expected: expected, Nodes: l.abandon(c), Cause: ctx.Err()}
		l.e.ctr.ackTimeouts.Add(1)
	}
	res, _, _ := c.Snapshot()
	out := make([]ServerReply, len(res))
	for i, r := range res {
		out[i] = ServerReply{Node: r.SID, Args: argsOut(r.Args), Err: r.Err}
	}
	return out, err
}

// ServerSideEmit sends an event to the other nodes' server code on namespace "/".
func (e *Engine) ServerSideEmit(event string, args ...any) error {
	return e.main().ServerSideEmit(event, args...)
}

// ServerSideEmitWithAck is Namespace.ServerSideEmitWithAck on namespace "/".
func (e *Engine) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]ServerReply, error) {
	return e.main().ServerSideEmitWithAck(ctx, event, args...)
}

// OnServerSideEmit is Namespace.OnServerSideEmit on namespace "/".
func (e *Engine) OnServerSideEmit(fn func(*ServerEvent)) { e.main().OnServerSideEmit(fn) }

// remoteServerEvent runs a peer's server event on this node's handlers, off the router.
func (l *link) remoteServerEvent(from string, m *clusterv1.ServerEvent) {
	answer := func(args []Arg, err error) {
		r := &clusterv1.ServerEventAck{RequestId: m.RequestId, Args: clusterlink.ArgsToWire(argsIn(args))}
		if err != nil {
			r.Error = err.Error()
		}
		l.node.Send(from, &clusterv1.Envelope{Body: &clusterv1.Envelope_ServerEventAck{ServerEventAck: r}})
	}
	n := l.e.Lookup(m.Namespace)
	var hs []func(*ServerEvent)
	if n != nil {
		n.mu.RLock()
		hs = n.serverHandlers
		n.mu.RUnlock()
	}
	if len(hs) == 0 {
		if m.RequestId != 0 {
			answer(nil, errors.New("no server-side handler"))
		}
		return
	}
	args, err := clusterlink.ArgsFromWire(m.Args)
	if err != nil {
		l.e.log.Warn("bad server event from peer", "node", from, "err", err)
		return
	}
	ev := &ServerEvent{Node: from, Name: m.Name, Args: argsOut(args)}
	if m.RequestId != 0 {
		ev.reply = answer
	}
	l.e.offerHook(n, func() {
		for _, h := range hs {
			func() {
				defer func() {
					if r := recover(); r != nil {
						l.e.log.Error("panic in server-side event handler", "err", fmt.Sprint(r))
					}
				}()
				h(ev)
			}()
		}
	})
}

func (l *link) serverEventAck(from string, m *clusterv1.ServerEventAck) {
	p := l.take(m.RequestId)
	if p == nil {
		return
	}
	args, _ := clusterlink.ArgsFromWire(m.Args)
	var err error
	if m.Error != "" {
		err = errors.New(m.Error)
	}
	p.c.Expect(nil)
	p.c.Add(actors.Result{SID: from, Args: args, Err: err})
	p.c.LegDone()
}
