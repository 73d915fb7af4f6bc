package transport

import "time"

// ResetInlineBudget starts a fresh window of the process-wide inline-write budget, so that a test's
// first inline write does not depend on what earlier tests spent.
func ResetInlineBudget() {
	inlineBudget.start.Store(0)
	inlineBudget.used.Store(0)
}

// SpendInlineBudget spends the whole inline-write budget in a window that does not end before the
// test's cleanup starts a fresh one (ResetInlineBudget): for a test that runs alone (not parallel).
func SpendInlineBudget(t interface{ Cleanup(func()) }) {
	inlineBudget.start.Store(int64(time.Since(epoch0)) + int64(time.Hour))
	inlineBudget.used.Store(int64(inlineWindow) * InlineShare / 1000)
	t.Cleanup(ResetInlineBudget)
}

// HoldsSlices reports whether q holds a frame slice (queued frames or its consumer's last batch).
func HoldsSlices[T any](q *Queue[T]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cur != nil || q.spare != nil
}

// TakeWaiting reports whether a Take has started waiting on q (its wake-up channel exists): from then on
// a Take that finds nothing queued waits for a signal, which only a push or a Release can give.
func TakeWaiting[T any](q *Queue[T]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ready != nil
}
