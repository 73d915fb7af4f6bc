package engine

// OpenTunnels returns how many tunnels the engine has open, either end.
func OpenTunnels(e *Engine) int {
	if e.link == nil {
		return 0
	}
	return e.link.tunnels.Len()
}
