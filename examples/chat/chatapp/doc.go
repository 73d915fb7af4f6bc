// Package chatapp is a multi-room chat written against the engine's public API: the event handlers of
// the chat ([Register]) and its browser page ([Page]). The program in examples/chat serves it on its own;
// the roomio node (cmd/roomio) runs it on namespace "/" unless started with -app none.
//
// # Events
//
// Every event may ask for an ack; a failure is acked {"ok":false,"error":"..."}.
//
//   - join(room): joins room; ack {"ok":true,"rooms":[...],"count":N,"history":[...]}: N is the number
//     of the socket's chat rooms, rooms lists them sorted, at most [MaxAckRooms] (100) of them, so an ack
//     stays small however many rooms the socket is in; history is the room's last ≤ 50 said objects in
//     seq order, said before the join (everything later arrives as said events: nothing missing, nothing
//     twice). The other members get joined {"room","id"} unless the socket was already a member.
//   - leave(room): leaves room (leaving a room one is not in is not an error); ack
//     {"ok":true,"rooms":[...],"count":N}.
//   - say(room, payload): said {"room","from","payload","seq"} to every member, sender included; ack
//     {"ok":true,"seq":N}. seq numbers the room's messages from 1, one more per message; a room that
//     empties is disposed and starts again at 1. A non-member is acked "not in room". The payload is
//     relayed as it came: JSON as is, binary as a base64 string. A client may send says without waiting
//     for their acks: the handler passes each to the room without waiting (engine.Socket.RequestRoomFunc),
//     the room numbers them in the order sent, and the acks come back in that order.
//   - find(topic): joins the fullest chat room whose metadata holds every key of topic (an object of at
//     most 8 string keys and values, each at most 64 bytes; absent: any room) with the same value, or
//     creates a room named "chat-" and 16 random characters with topic as its metadata (Colyseus'
//     joinOrCreate, engine.Socket.JoinOrCreate; one node of a cluster decides, so sockets asking at once
//     on different nodes land in one room). Ack: join's, plus "room" and "created". Rooms joined by name
//     have no metadata, so only an empty topic finds them.
//   - whisper(socketId, payload): whispered {"from","payload"} to that socket alone, on this node or,
//     in a cluster, on another.
//
// Every chat room is a behaviour room (engine.Namespace.DefineFunc, type chatRoom): its code numbers the
// messages, keeps the history and validates joins. Room names are 1–128 bytes of printable UTF-8 and
// may not be, or look like, a socket id ("<node id>.<20 characters>" in a cluster): every socket is alone
// in the room named by its id, which is where whispers go, so a member of that room would read another
// user's whispers; the room refuses such a join ("invalid room name").
//
// In a cluster a chat room runs on one node (its placement owner) and is replicated to another: every
// member on every node sees the same seq order, and the count and history survive a move or the loss of
// the owner (docs/behaviors.md).
//
// # Page
//
// [Page] serves index.html, a one-page chat client. It imports ./roomio.js (serve it with
// [github.com/roomio/roomio/client/browser.Handler] next to the page) and connects to the native endpoint
// at /ws, or to the path or URL given as ?ws=.
//
// # Concurrency
//
// The event handlers run on the engine's socket goroutines, one at a time per socket; the set of this
// node's connected socket ids, a sync.Map per Register call, is the only state they share with each
// other and with the rooms. A room's state is touched only by its hooks, which run in its actor. The page
// handler is safe for concurrent use.
//
// # Imports
//
// engine only: an app needs nothing below the public API.
package chatapp
