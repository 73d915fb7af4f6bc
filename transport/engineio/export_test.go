package engineio

import (
	"net/http"
	"time"
)

// PollPending reports whether session sid has a poll waiting.
func PollPending(srv *Server, sid string) bool {
	s := srv.session(sid)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getActive
}

// PostPending reports whether session sid is handling a POST.
func PostPending(srv *Server, sid string) bool {
	s := srv.session(sid)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.postActive
}

// ExpirePong moves the session's pong deadline to the past without telling its timer, as if the timer ran
// late.
func ExpirePong(s *Session) {
	s.hbMu.Lock()
	s.deadline = time.Now().Add(-time.Millisecond)
	s.pingSent = time.Time{}
	s.hbMu.Unlock()
}

func (srv *Server) session(sid string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[sid]
}

// Probing reports whether session sid has a WebSocket connected for an upgrade.
func Probing(srv *Server, sid string) bool {
	s := srv.session(sid)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probing
}

// LatePing puts the session in the state of a ping that went out just now, after its planned deadline.
func LatePing(s *Session) {
	s.hbMu.Lock()
	now := time.Now()
	s.awaiting, s.pingSent, s.deadline = true, now, now.Add(-time.Millisecond)
	s.hbMu.Unlock()
}

// AfterPollAnswer makes every poll of srv call f once it has written its answer, before its handler
// decides anything else (whether the client gave up the poll, typically).
func AfterPollAnswer(srv *Server, f func(r *http.Request)) {
	srv.afterPollAnswer.Store(&f)
}

// BeforeProbeRead makes every read of an upgrading WebSocket's connection call f first.
func BeforeProbeRead(srv *Server, f func()) {
	srv.beforeProbeRead.Store(&f)
}

// PollsHeld returns how many polls of session sid wait for its upgrade to move on.
func PollsHeld(srv *Server, sid string) int {
	s := srv.session(sid)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}
