package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// NewSystem returns an actor system whose logs go to logger (protoactor's default writes coloured text
// to stderr), with a dead-letter subscriber that settles the collector legs of deliveries that reached an
// actor which had already stopped, so no fan-out waits for a message that will never be processed.
// The engine creates one system per Engine and spawns its namespace actors in it.
func NewSystem(logger *slog.Logger) *actor.ActorSystem {
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return logger.With("component", "protoactor")
		}),
		// The dead-letter log throttle runs a goroutine for one interval after each burst; keep it short
		// so a stopped engine leaves nothing running for long (dead letters are expected at shutdown).
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
		actor.WithDeadLetterRequestLogging(false),
	)
	sys.EventStream.Subscribe(func(evt any) {
		dl, ok := evt.(*actor.DeadLetterEvent)
		if !ok {
			return
		}
		switch m := dl.Message.(type) {
		case *delivery:
			if m.b.Collector != nil {
				m.b.Collector.LegDone()
			}
			m.b.legDone()
		case *Broadcast: // its namespace had stopped
			if m.Collector != nil {
				m.Collector.LegDone()
			}
			m.legDone()
		case *nsRefused:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *roomAdd:
			if m.Answer != nil {
				m.Answer(ErrRoomClosed)
			} else if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *nsJoin:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *nsLeave:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *roomJoined:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *roomRefused:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *RoomMessage:
			m.fail(ErrNoRoom)
		case *JoinRooms:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		case *LeaveRooms:
			if m.Collector != nil {
				m.Collector.LegDone()
			}
		}
	})
	return sys
}
