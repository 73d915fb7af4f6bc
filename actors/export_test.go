package actors

import "github.com/asynkron/protoactor-go/actor"

// SocketProps returns the props of a socket actor alone, so that a test can spawn it under a parent of
// its own and play the namespace's part in the close handshake.
func SocketProps(m *AddSocket, live *Live) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newSocketActor(m, nil, live) })
}

// RemoveSocket reports whether msg is a closing socket's request to its namespace to forget it, and
// which rooms (its own-id room excluded) it asks to be dropped from.
func RemoveSocket(msg any) (sid string, rooms []string, ok bool) {
	m, ok := msg.(*nsRemoveSocket)
	if !ok {
		return "", nil, false
	}
	return m.SID, m.Rooms, true
}

// Released is the namespace's answer to RemoveSocket: rooms room actors were asked to drop the socket.
func Released(rooms int) any { return &nsReleased{Rooms: rooms} }

// RoomReleased is one room actor's confirmation that it dropped the socket.
func RoomReleased() any { return &roomReleased{} }
