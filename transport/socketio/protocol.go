package socketio

// Socket.IO packet types (protocol v5, "Exchange protocol").
const (
	typeConnect      = '0'
	typeDisconnect   = '1'
	typeEvent        = '2'
	typeAck          = '3'
	typeConnectError = '4'
	typeBinaryEvent  = '5'
	typeBinaryAck    = '6'
)

// engineIOMessage is the Engine.IO packet type that carries a Socket.IO packet.
const engineIOMessage = '4'
