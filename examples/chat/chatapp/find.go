package chatapp

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/roomio/roomio/engine"
)

// Behaviour is the name of the chat rooms' behaviour, for listings (GET /api/v1/rooms?behavior=chat)
// and join-or-create.
const Behaviour = "chat"

// Limits of a find's topic object: it becomes the metadata of the room it creates.
const (
	MaxTopicKeys  = 8
	MaxTopicBytes = 64 // per key and per value
)

// chatFind joins the fullest chat room whose metadata holds every key of the topic object with the
// same value, or creates one ("chat-" and 16 random characters) with the topic as its metadata: a
// join-or-create decided by one node of the cluster, so two sockets asking at once on different nodes
// land in the same room. The ack is join's plus "room" and "created".
func chatFind(ev *engine.Event) {
	s := ev.Socket
	var topic map[string]string
	if len(ev.Args) > 0 {
		if err := ev.Bind(0, &topic); err != nil {
			ackIf(ev, fail("the topic must be an object of strings"))
			return
		}
	}
	if len(topic) > MaxTopicKeys {
		ackIf(ev, fail("at most 8 topic keys"))
		return
	}
	filter := make(map[string]any, len(topic))
	for k, v := range topic {
		if len(k) == 0 || len(k) > MaxTopicBytes || len(v) > MaxTopicBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
			ackIf(ev, fail("topic keys are 1–64 bytes and values at most 64 bytes of UTF-8"))
			return
		}
		filter[k] = v
	}
	ctx, cancel := context.WithTimeout(ev.Context(), 5*time.Second)
	defer cancel()
	room, created, err := s.JoinOrCreate(ctx, Behaviour, filter, topic)
	if err != nil {
		var re *engine.RefusedError
		if errors.As(err, &re) {
			err = re.Err
		}
		ackIf(ev, fail(err.Error()))
		return
	}
	history, err := roomHistory(ctx, s, room)
	if err != nil {
		ackIf(ev, fail(err.Error()))
		return
	}
	ackRooms(ev, ctx, map[string]any{"ok": true, "room": room, "created": created, "history": history})
}

// setTopic makes a room's creating options, when they are a topic object, its metadata.
func setTopic(r *engine.RoomContext, opts engine.Arg) {
	if opts.Data == nil {
		return
	}
	var topic map[string]string
	if opts.Decode(&topic) == nil && topic != nil {
		r.SetMetadata(topic)
	}
}
