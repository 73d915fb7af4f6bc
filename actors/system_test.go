package actors_test

import (
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/roomio/roomio/actors"
)

// TestCompactRegistry: the system's process registry has RegistryBuckets buckets and still resolves
// what the system registered while it was made, and what is spawned after.
func TestCompactRegistry(t *testing.T) {
	sys := actors.NewSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := sys.ProcessRegistry
	if n := len(reg.LocalPIDs.LocalPIDs); n != actors.RegistryBuckets {
		t.Fatalf("%d buckets, want %d", n, actors.RegistryBuckets)
	}
	for _, id := range []string{"eventstream", "deadletter"} {
		if _, ok := reg.Get(actor.NewPID(reg.Address, id)); !ok {
			t.Errorf("%q not resolved after the registry was compacted", id)
		}
	}
	got := make(chan any, 1)
	pids := make([]*actor.PID, 100)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if s, ok := c.Message().(string); ok {
				got <- s
			}
		}))
	}
	for i, pid := range pids {
		p, ok := reg.Get(actor.NewPID(pid.Address, pid.Id)) // no cached process: the registry's lookup
		if !ok {
			t.Fatalf("actor %d (%s) not in the registry", i, pid.Id)
		}
		p.SendUserMessage(pid, "hi")
		if m := <-got; m != "hi" {
			t.Fatalf("actor %d got %v", i, m)
		}
	}
	for _, pid := range pids {
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, ok := reg.Get(actor.NewPID(pid.Address, pid.Id)); ok {
			t.Fatalf("stopped actor %s still in the registry", pid.Id)
		}
	}
}
