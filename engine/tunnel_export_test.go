package engine

// OpenTunnels returns how many tunnels the engine has open, either end.
func OpenTunnels(e *Engine) int {
	if e.link == nil {
		return 0
	}
	t := e.link.tunnels
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}
