package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/roomio/roomio/engine"
)

// apiHandler serves the backend API and the Prometheus metrics (/metrics) on their own listener
// (-api-addr). Every request passes guardAPI first (a scraper presents -api-key as a bearer token when
// it is set); unknown paths answer 404 with a JSON error.
func (n *node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/emit", n.apiEmit)
	mux.HandleFunc("GET /api/v1/sockets", n.apiSockets)
	mux.HandleFunc("GET /api/v1/cluster", n.apiCluster)
	mux.HandleFunc("GET /api/v1/stats", n.apiStats)
	mux.HandleFunc("GET /api/v1/rooms", n.apiRooms)
	mux.Handle("GET /metrics", n.metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not found"})
	})
	return n.bodyDeadline(n.guardAPI(mux))
}

// guardAPI refuses, in this order and with a JSON error:
//
//   - 403 a Host that does not name a loopback address while the API listens on loopback: a page whose
//     host name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its own name as Host;
//   - 403 a cross-site browser request: Sec-Fetch-Site other than same-origin or none, or an Origin
//     other than the request's own host. The API is for backends; browsers send these headers and
//     other clients do not;
//   - 401 a missing or wrong "Authorization: Bearer KEY" when -api-key is set (counted and logged
//     rate-limited); without a key, a client that is not on loopback gets 403 (the listener is loopback,
//     so that takes a proxy in front of it);
//   - 415 a POST whose Content-Type is not application/json: a cross-site form or a no-cors fetch can
//     only send form and text types, never this one.
func (n *node) guardAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.apiLoopback && !loopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("Host %q is not a loopback address", r.Host)})
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeJSON(w, http.StatusForbidden, apiError{Error: "cross-site request refused (Sec-Fetch-Site: " + site + ")"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
			writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("cross-origin request refused (Origin %q)", origin)})
			return
		}
		if n.apiKey != "" {
			// RFC 6750 §2.1: "Bearer" 1*SP token, the scheme case-insensitive (RFC 9110 §11.1).
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			got = strings.TrimLeft(got, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(n.apiKey)) != 1 {
				n.apiAuth.fail("remote_addr", r.RemoteAddr, "path", r.URL.Path)
				// RFC 9110 §15.5.2: a 401 carries a challenge.
				w.Header().Set("WWW-Authenticate", `Bearer realm="roomio"`)
				writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong API key"})
				return
			}
		} else if !isLoopback(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "API answers loopback clients only unless -api-key is set"})
			return
		}
		if r.Method == http.MethodPost {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "Content-Type must be application/json"})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names loopback: "localhost", a name under .localhost
// (RFC 6761 §6.3: resolved to loopback without DNS), or a loopback IP literal; any port or none.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether an Origin header names the request's own host (scheme ignored: the API is
// served over one scheme per listener). "null" and anything unparsable are not.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiStats answers the node's counters: {"api_auth_failures": N, "cluster": {"sent", "received",
// "dropped", "rejected"}} (the cluster's are zero on a single node).
func (n *node) apiStats(w http.ResponseWriter, r *http.Request) {
	sent, received, dropped, rejected := n.eng.ClusterStats()
	writeJSON(w, http.StatusOK, map[string]any{
		"api_auth_failures": n.apiFailures.Load(),
		"cluster":           map[string]uint64{"sent": sent, "received": received, "dropped": dropped, "rejected": rejected},
		"recovery":          n.eng.RecoveryStats(),
	})
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
