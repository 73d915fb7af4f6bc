package engine

import (
	"context"
	"slices"
	"sync"
	"time"
)

// socketContext is a socket's context (Socket.Context): never done until end is called, then done with
// context.Canceled. Its zero value is ready to use; it is kept inside the Socket, so a socket that never
// asks for it costs a few words.
//
// It exists for what a context derived from it leaves behind. context.WithCancel's context keeps a map
// of its children, and a child cancelled early (a handler's WithTimeout around a Join, the common case)
// leaves the map allocated, empty, for the socket's whole life (~0.4 KB per socket). The context package
// instead registers a child through the parent's AfterFunc method when the parent has one, as this type
// does: the registrations live in a slice let go when the last one is stopped.
type socketContext struct {
	mu     sync.Mutex
	done   chan struct{} // made by the first Done call; closed by end
	ended  bool
	afters []*func() // AfterFunc's functions not yet stopped nor run
}

var _ context.Context = (*socketContext)(nil)

func (c *socketContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *socketContext) Value(any) any { return nil }

func (c *socketContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.ended {
			close(c.done)
		}
	}
	return c.done
}

func (c *socketContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return context.Canceled
	}
	return nil
}

// AfterFunc arranges for f to run once the context ends (the method the context package looks for on a
// parent; context.AfterFunc(c, f) goes through it too). f runs on the goroutine that calls end, or on
// its own goroutine when the context has already ended. stop unregisters f; it reports whether it
// stopped f from being run.
func (c *socketContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	p := &f
	c.afters = append(c.afters, p)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.afters, p)
		if i < 0 {
			return false
		}
		c.afters = slices.Delete(c.afters, i, i+1)
		if len(c.afters) == 0 {
			c.afters = nil // let the backing array go: most sockets register one at a time
		}
		return true
	}
}

// end ends the context, once, and runs the AfterFunc functions registered.
func (c *socketContext) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if c.done != nil {
		close(c.done)
	}
	fs := c.afters
	c.afters = nil
	c.mu.Unlock()
	for _, f := range fs {
		(*f)()
	}
}
