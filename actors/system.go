package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
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
	compactRegistry(sys)
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

// RegistryBuckets is how many buckets the actor system's process registry (actor id → process) has
// here. Protoactor makes 1 024, each a concurrent map of 32 locked Go maps: 32 768 maps, so that up to
// tens of thousands of actors nearly every one is alone in its map and pays a map table of its own
// (~0.3 KB, measured per idle socket: docs/benchmarks.md, "The actor registry"). With 8 buckets, 256
// maps, the actors share tables; a lookup still takes one of 256 locks, the registry is consulted only
// to spawn, stop and resolve a PID that has no process cached (a remote sender's, a deserialised one),
// and a local send uses the process its PID caches.
const RegistryBuckets = 8

// compactRegistry gives sys's process registry RegistryBuckets buckets, keeping what the system
// registered while it was being made (its dead-letter and event-stream processes). Called before
// anything else can use the system.
func compactRegistry(sys *actor.ActorSystem) {
	reg := sys.ProcessRegistry
	sm := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, RegistryBuckets)}
	for i := range sm.LocalPIDs {
		sm.LocalPIDs[i] = cmap.New()
	}
	for _, b := range reg.LocalPIDs.LocalPIDs {
		b.IterCb(func(id string, p any) { sm.GetBucket(id).Set(id, p) })
	}
	reg.LocalPIDs = sm
}
