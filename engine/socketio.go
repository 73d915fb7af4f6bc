package engine

import (
	"net/http"
	"time"

	"github.com/roomio/roomio/transport/engineio"
	"github.com/roomio/roomio/transport/socketio"
)

// SocketIOConfig configures the Socket.IO v5 / Engine.IO v4 endpoint (Engine.SocketIOHandler). The
// heartbeat, the maximum payload and the outbound queue come from Config (PingInterval, PingTimeout,
// MaxMessageSize, WriteQueueBytes).
type SocketIOConfig struct {
	// Transports lists the Engine.IO transports offered. Nil means polling and websocket (polling first,
	// then the upgrade); {"websocket"} is websocket-only.
	Transports []string
	// DisableUpgrades keeps polling sessions on polling.
	DisableUpgrades bool
	// CORSOrigins enables CORS headers on the polling endpoint for these origins ("*" for any).
	CORSOrigins []string
	// CORSCredentials sets Access-Control-Allow-Credentials.
	CORSCredentials bool
	// MaxAttachments bounds the binary attachments of one packet. Zero means 10.
	MaxAttachments int
	// AttachmentTimeout bounds the time from a binary packet's text to its last attachment; an
	// incomplete packet then closes the connection (reason "parse error"). The attachments of one packet
	// may total at most MaxMessageSize bytes, or the connection is closed the same way. Zero means 10s.
	AttachmentTimeout time.Duration
}

func (e *Engine) newSocketIO() *socketio.Server {
	c := e.cfg
	eo := engineio.Options{
		PingInterval:    c.PingInterval,
		PingTimeout:     c.PingTimeout,
		MaxPayload:      c.MaxMessageSize,
		Transports:      c.SocketIO.Transports,
		DisableUpgrades: c.SocketIO.DisableUpgrades,
		QueueBytes:      c.WriteQueueBytes,
		OriginPatterns:  c.AllowedOrigins,
		HeaderBytes:     c.HandshakeHeaderBytes,
		AddrLimit:       e.addrs,
		Meter:           &e.ctr.meter,
		Logger:          c.Logger,
		// In a cluster, sids name their node, and a request for a session of another node is relayed to
		// it (relay.go, package cluster/tunnel): no sticky sessions needed.
		NewSID:  e.newSocketID,
		Forward: e.forwardSocketIO,
	}
	if len(c.SocketIO.CORSOrigins) > 0 {
		eo.CORS = &engineio.CORS{AllowOrigins: c.SocketIO.CORSOrigins, AllowCredentials: c.SocketIO.CORSCredentials}
	}
	return socketio.NewServer(socketio.Options{Acceptor: (*acceptor)(e), EngineIO: eo, MaxAttachments: c.SocketIO.MaxAttachments,
		MaxAttachmentBytes: int(c.MaxMessageSize), AttachmentTimeout: c.SocketIO.AttachmentTimeout})
}

// SocketIOHandler returns the Socket.IO v5 endpoint, for the official socket.io-client and compatible
// clients. Mount it at "/socket.io/" (the clients' default path). Socket.IO and native sockets share
// namespaces, rooms and every API of the engine. In a cluster, a request for a session of another node
// is relayed to that node, so a load balancer in front of the nodes needs no sticky sessions
// (docs/socketio.md, "Behind a load balancer").
func (e *Engine) SocketIOHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.state.Load() != stateRunning {
			http.Error(w, "roomio engine not running", http.StatusServiceUnavailable)
			return
		}
		e.sio.ServeHTTP(w, r)
	})
}
