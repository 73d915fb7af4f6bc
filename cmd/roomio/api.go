package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/roomio/roomio/engine"
)

// requireAPI guards the backend API: with an API key, a matching "Authorization: Bearer KEY" header is
// required; without one, only loopback clients are answered.
func (n *node) requireAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.apiKey != "" {
			// RFC 6750 §2.1: "Bearer" 1*SP token, the scheme case-insensitive (RFC 9110 §11.1).
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			got = strings.TrimLeft(got, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(n.apiKey)) != 1 {
				// RFC 9110 §15.5.2: a 401 carries a challenge.
				w.Header().Set("WWW-Authenticate", `Bearer realm="roomio"`)
				writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong API key"})
				return
			}
		} else if !isLoopback(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "API answers loopback clients only unless -api-key is set"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type apiError struct {
	Error string `json:"error"`
}

type emitRequest struct {
	Namespace string            `json:"namespace"`
	Rooms     []string          `json:"rooms"`
	Except    []string          `json:"except"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
}

const maxAPIBody = 1 << 20

func (n *node) apiEmit(w http.ResponseWriter, r *http.Request) {
	var req emitRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid JSON body: " + err.Error()})
		return
	}
	// Only white space may follow the object. (Decoder.More is not this test: it reports false before a
	// stray "}" or "]".)
	if _, err := dec.Token(); err != io.EOF {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid JSON body: trailing data"})
		return
	}
	if req.Event == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "missing event"})
		return
	}
	ns := n.eng.Lookup(defaultNS(req.Namespace))
	if ns == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown namespace %q", req.Namespace)})
		return
	}
	args := make([]any, len(req.Args))
	for i, a := range req.Args {
		args[i] = a
	}
	if err := ns.To(req.Rooms...).Except(req.Except...).Emit(req.Event, args...); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true})
}

type socketJSON struct {
	ID     string   `json:"id"`
	UserID string   `json:"user_id,omitempty"` // the authenticated user (Socket.UserID)
	Rooms  []string `json:"rooms"`
}

func (n *node) apiSockets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := n.eng.Lookup(defaultNS(q.Get("namespace")))
	if ns == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown namespace %q", q.Get("namespace"))})
		return
	}
	op := ns.To()
	if room := q.Get("room"); room != "" {
		op = ns.To(room)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	socks, err := op.FetchSockets(ctx)
	// On timeout FetchSockets returns the sockets that answered and an error wrapping engine.ErrTimeout
	// (the context's error is only in its text): list those.
	if err != nil && !errors.Is(err, engine.ErrTimeout) {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	out := make([]socketJSON, 0, len(socks))
	for _, s := range socks {
		out = append(out, socketJSON{ID: s.ID, UserID: s.UserID, Rooms: s.Rooms})
	}
	body := map[string]any{"sockets": out}
	// In a cluster, name the nodes that did not answer in time (their sockets are missing).
	if te := (*engine.TimeoutError)(nil); errors.As(err, &te) && len(te.Nodes) > 0 {
		body["missing_nodes"] = te.Nodes
	}
	writeJSON(w, http.StatusOK, body)
}

func defaultNS(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// apiCluster lists the live nodes: {"node": self id, "members": [{id, gossip_addr, remote_addr, self}]}.
// A single node answers its own entry with empty addresses.
func (n *node) apiCluster(w http.ResponseWriter, r *http.Request) {
	members := n.eng.ClusterMembers()
	if members == nil {
		members = []engine.ClusterMember{{Self: true}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": n.eng.NodeID(), "members": members})
}
