package client

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/roomio/roomio/internal/packet"
)

// RoomEmit sends event with args (converted as by Emit) to the code of a behaviour room the socket is a
// member of (the native protocol's RoomMessage). It returns once the frame is written; a room that cannot
// take the message answers with an Error packet, seen by OnError (codes 7–11 in docs/protocol.md).
func (s *Socket) RoomEmit(ctx context.Context, room, event string, args ...any) error {
	p, err := s.roomPacket(room, event, args)
	if err != nil {
		return fmt.Errorf("client: room %s: %w", room, err)
	}
	ws, err := s.conn()
	if err != nil {
		return fmt.Errorf("client: room %s: %w", room, err)
	}
	if err := s.c.send(ctx, ws, p); err != nil {
		return fmt.Errorf("client: room %s: %w", room, err)
	}
	return nil
}

// RoomRequest sends event with args to a behaviour room's code, as RoomEmit, and waits for the room's
// answer: its arguments, a *ServerError when the server refused the message (not in the room, no
// behaviour, too big, busy, or the room's code failed), or ctx.Err() when ctx ends first — a room that
// never answers ends there.
func (s *Socket) RoomRequest(ctx context.Context, room, event string, args ...any) ([]Arg, error) {
	p, err := s.roomPacket(room, event, args)
	if err != nil {
		return nil, fmt.Errorf("client: room %s: %w", room, err)
	}
	out, err := s.call(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("client: room %s: %w", room, err)
	}
	return out, nil
}

func (s *Socket) roomPacket(room, event string, args []any) (*packet.Packet, error) {
	if !utf8.ValidString(room) || !utf8.ValidString(event) {
		return nil, fmt.Errorf("%w: room or event name is not valid UTF-8", ErrInvalidArg)
	}
	pargs, err := packet.ArgsOf(args)
	if err != nil {
		return nil, err
	}
	return &packet.Packet{Kind: packet.KindRoomMessage, Namespace: s.ns, Room: room, Name: event, Args: pargs}, nil
}
