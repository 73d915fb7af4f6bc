package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/roomio/roomio/client"
)

// nativeConn is a connection of roomio's native protocol, through package client.
type nativeConn struct {
	rc *runConfig
	c  *client.Client
	s  *client.Socket
}

func dialNative(ctx context.Context, rc *runConfig, hooks connHooks) (*nativeConn, error) {
	c, err := client.Dial(ctx, rc.target, client.Options{HTTPClient: rc.hc})
	if err != nil {
		return nil, err
	}
	var auth any
	if rc.Auth != "" {
		auth = json.RawMessage(rc.Auth)
	}
	setup := client.WithSetup(func(s *client.Socket) {
		s.On(rc.SaidEvent, func(args []client.Arg, _ client.AckFunc) {
			for _, a := range args {
				if !a.Binary && hooks.said != nil {
					hooks.said(a.Data)
				}
			}
		})
		s.OnDisconnect(func(reason string) {
			if hooks.ended != nil {
				hooks.ended(errors.New(reason))
			}
		})
	})
	s, err := c.Connect(ctx, rc.Namespace, auth, setup)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &nativeConn{rc: rc, c: c, s: s}, nil
}

func (n *nativeConn) join(ctx context.Context, room string) error {
	res, err := n.s.EmitWithAck(ctx, n.rc.JoinEvent, room)
	if err != nil {
		return err
	}
	if len(res) == 0 || res[0].Binary {
		return nil
	}
	return ackError(res[0].Data)
}

func (n *nativeConn) say(ctx context.Context, room string, payload []byte) error {
	args := make([]any, len(n.rc.sayArgs))
	for i, a := range n.rc.sayArgs {
		if a == "room" {
			args[i] = room
		} else {
			args[i] = json.RawMessage(payload)
		}
	}
	if err := n.s.Emit(ctx, n.rc.SayEvent, args...); err != nil {
		return fmt.Errorf("emit: %w", err)
	}
	return nil
}

func (n *nativeConn) close() { n.c.Close() }
