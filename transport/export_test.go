package transport

// ResetInlineBudget starts a fresh window of the process-wide inline-write budget, so that a test's
// first inline write does not depend on what earlier tests spent.
func ResetInlineBudget() {
	inlineBudget.start.Store(0)
	inlineBudget.used.Store(0)
}
