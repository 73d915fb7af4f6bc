package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/roomio/roomio/engine"
)

// maxRoomFilter bounds the filter query parameter of GET /api/v1/rooms.
const maxRoomFilter = 4096

// apiRooms lists the rooms of a behaviour, cluster-wide: GET /api/v1/rooms?behavior=B[&namespace=N]
// [&filter=JSON object][&available=true] → 200 {"rooms":[{"name","node","metadata","clients",
// "max_clients","locked"}],"complete":bool,"missing_nodes":[...]}. Errors (JSON {"error"}): 400 a
// missing behavior, a filter that is not a JSON object or longer than 4 KiB, an available other than
// true/false; 404 an unknown namespace or behaviour.
func (n *node) apiRooms(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	behavior := q.Get("behavior")
	if behavior == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "missing behavior"})
		return
	}
	available := false
	switch q.Get("available") {
	case "", "false", "0":
	case "true", "1":
		available = true
	default:
		writeJSON(w, http.StatusBadRequest, apiError{Error: "available must be true or false"})
		return
	}
	filter := q.Get("filter")
	if len(filter) > maxRoomFilter {
		writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("filter longer than %d bytes", maxRoomFilter)})
		return
	}
	ns := n.eng.Lookup(defaultNS(q.Get("namespace")))
	if ns == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown namespace %q", q.Get("namespace"))})
		return
	}
	list, err := ns.RoomsJSON(r.Context(), behavior, []byte(filter))
	switch {
	case errors.Is(err, engine.ErrUnknownBehavior):
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown behavior %q", behavior)})
		return
	case errors.Is(err, engine.ErrBadFilter):
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid filter: must be a JSON object"})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	if available {
		kept := list.Rooms[:0]
		for _, room := range list.Rooms {
			if room.Available() {
				kept = append(kept, room)
			}
		}
		list.Rooms = kept
	}
	writeJSON(w, http.StatusOK, list)
}
