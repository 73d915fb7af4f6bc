package socketio

import (
	"context"
	"net/http"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport"
	"github.com/roomio/roomio/transport/engineio"
)

// Options configures a Server.
type Options struct {
	// Acceptor receives every new Socket.IO connection (one per Engine.IO session). Required.
	Acceptor transport.Acceptor
	// EngineIO configures the Engine.IO layer; its OnSession is set by NewServer.
	EngineIO engineio.Options
	// MaxAttachments bounds the binary attachments of one packet; more is a parse error that closes the
	// connection. Zero means 10.
	MaxAttachments int
}

// Server is the Socket.IO v5 endpoint: Engine.IO v4 sessions (polling, websocket, the upgrade) carrying
// Socket.IO packets, each session handed to the Acceptor as a transport.Conn. Mount it at /socket.io/.
type Server struct {
	eio *engineio.Server
	acc transport.Acceptor
	max int
}

// NewServer returns a Server for opts.
func NewServer(opts Options) *Server {
	if opts.Acceptor == nil {
		panic("socketio: Options.Acceptor is required")
	}
	s := &Server{acc: opts.Acceptor, max: opts.MaxAttachments}
	eo := opts.EngineIO
	eo.OnSession = s.open
	s.eio = engineio.NewServer(eo)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Shutdown closes every session after writing what is queued, and waits (see engineio.Server.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error { return s.eio.Shutdown(ctx) }

func (s *Server) open(es *engineio.Session) {
	c := &Conn{es: es, dec: &Decoder{MaxAttachments: s.max}}
	c.session = s.acc.Open(c)
	es.SetHandler(c)
}

// Conn is one Socket.IO connection (an Engine.IO session). It implements transport.Conn and
// engineio.Handler.
type Conn struct {
	es      *engineio.Session
	dec     *Decoder // touched only by OnMessage, which Engine.IO calls serially
	session transport.Session
}

// Transport names the Engine.IO transport the connection uses now: "polling" or "websocket".
func (c *Conn) Transport() string { return c.es.Transport() }

// ID implements transport.Conn: the Engine.IO session id.
func (c *Conn) ID() string { return c.es.ID() }

// Handshake implements transport.Conn.
func (c *Conn) Handshake() transport.Handshake { return c.es.Handshake() }

// Send implements transport.Conn. The packet's Socket.IO text is encoded once for every Socket.IO
// recipient (packet cache slot packet.SlotSocketIO) and its binary attachments follow it as one group.
// Packets without a Socket.IO form (Error, Ping, Pong) are dropped: Socket.IO reports nothing for a bad
// client packet.
func (c *Conn) Send(p *packet.Packet) error {
	switch p.Kind {
	case packet.KindError, packet.KindPing, packet.KindPong:
		return nil
	}
	text := p.Encode(Encoder)
	atts := Attachments(p)
	if len(atts) == 0 {
		return c.es.SendFrames(p.Volatile, engineio.Frame{Data: text})
	}
	frames := make([]engineio.Frame, 0, 1+len(atts))
	frames = append(frames, engineio.Frame{Data: text})
	for _, a := range atts {
		frames = append(frames, engineio.Frame{Data: a, Binary: true})
	}
	return c.es.SendFrames(p.Volatile, frames...)
}

// Close implements transport.Conn: Socket.IO has no close codes, so code is not sent; the reason
// reaches the session's Closed.
func (c *Conn) Close(code int, reason string) { c.es.Close(reason) }

// OnMessage implements engineio.Handler.
func (c *Conn) OnMessage(data []byte, binary bool) {
	var p *packet.Packet
	var err error
	if binary {
		p, err = c.dec.Binary(data)
	} else {
		p, err = c.dec.Text(data)
	}
	if err != nil {
		// Socket.IO closes the connection on a packet it cannot parse.
		c.es.Close(transport.ReasonParseError)
		return
	}
	if p == nil {
		return // a binary packet waiting for its attachments
	}
	switch p.Kind {
	case packet.KindConnect, packet.KindEvent, packet.KindAck, packet.KindDisconnect:
		c.session.Packet(p)
	default:
		// A CONNECT_ERROR is a server's packet: the reference server ignores it from a client, and
		// transport.Session.Packet does not take it.
	}
}

// OnClose implements engineio.Handler.
func (c *Conn) OnClose(reason string) { c.session.Closed(reason) }
