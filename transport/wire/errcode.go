package wire

// Error codes carried by an Error packet: a problem with one message that does not end the connection.
// A server sends them in packet.Packet.Code with KindError; a client reads them there. docs/protocol.md
// lists them for client authors.
const (
	ErrCodeUnknownKind      = 1 // a message kind this server does not know (a newer client)
	ErrCodeNotConnected     = 2 // a packet for a namespace the connection has not connected
	ErrCodeUnknownAck       = 3 // an ack whose id is not pending (answered twice, timed out, or invented)
	ErrCodeInvalid          = 4 // an invalid packet: bad argument JSON, empty or reserved event name
	ErrCodeAlreadyConnected = 5 // a second connect to a namespace already connected on this connection
	ErrCodeRejected         = 6 // a per-packet middleware rejected the event

	// Errors of a RoomMessage. When the message carried an ack_id, the Error carries it too and no Ack
	// follows.
	ErrCodeNotInRoom  = 7  // the socket is not a member of the room
	ErrCodeNoBehavior = 8  // the room name matches no behaviour (a plain room takes no messages)
	ErrCodeRoomTooBig = 9  // the message is larger than the room accepts
	ErrCodeRoomBusy   = 10 // the room has too many messages waiting
	ErrCodeRoomFailed = 11 // the room's code failed on the message
)
