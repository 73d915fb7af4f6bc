package socketio

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

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
	// MaxAttachmentBytes bounds the total size of one packet's binary attachments while they arrive; more
	// is a parse error that closes the connection. Zero means EngineIO.MaxPayload (after its default).
	MaxAttachmentBytes int
	// AttachmentTimeout bounds the time from a binary packet's text to its last attachment; a packet
	// still incomplete then closes the connection with reason "parse error". Zero means 10s.
	AttachmentTimeout time.Duration
}

// Server is the Socket.IO v5 endpoint: Engine.IO v4 sessions (polling, websocket, the upgrade) carrying
// Socket.IO packets, each session handed to the Acceptor as a transport.Conn. Mount it at /socket.io/.
type Server struct {
	eio      *engineio.Server
	acc      transport.Acceptor
	max      int
	maxBytes int
	attWait  time.Duration
}

// NewServer returns a Server for opts.
func NewServer(opts Options) *Server {
	if opts.Acceptor == nil {
		panic("socketio: Options.Acceptor is required")
	}
	s := &Server{acc: opts.Acceptor, max: opts.MaxAttachments, maxBytes: opts.MaxAttachmentBytes, attWait: opts.AttachmentTimeout}
	if s.maxBytes <= 0 {
		s.maxBytes = int(opts.EngineIO.MaxPayload)
		if s.maxBytes <= 0 {
			s.maxBytes = 1_000_000 // engineio's default MaxPayload
		}
	}
	if s.attWait <= 0 {
		s.attWait = 10 * time.Second
	}
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
	c := &Conn{es: es, srv: s}
	c.session = s.acc.Open(c)
	es.SetHandler(c)
}

// Conn is one Socket.IO connection (an Engine.IO session). It implements transport.Conn and
// engineio.Handler.
type Conn struct {
	es  *engineio.Session
	srv *Server
	// dec is the decoder of a binary packet waiting for its attachments, nil otherwise: a message is
	// decoded with one from decoders, kept only while such a packet is pending. Touched only by
	// OnMessage, which Engine.IO calls serially.
	dec     *Decoder
	session transport.Session

	// A binary packet waiting for its attachments has a deadline: attGen numbers the pending packets
	// (touched only by OnMessage), waiting holds the number of the one pending (0 when none), and the
	// timer closes the connection if that packet is still the pending one when it fires.
	attGen  uint64
	waiting atomic.Uint64
	attTime *time.Timer
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
func (c *Conn) Send(p *packet.Packet) error { return c.send(p, false) }

// SendNow implements transport.NowSender.
func (c *Conn) SendNow(p *packet.Packet) error { return c.send(p, true) }

// Hold implements transport.Holder.
func (c *Conn) Hold() { c.es.Hold() }

// Release implements transport.Holder.
func (c *Conn) Release() { c.es.Release() }

func (c *Conn) send(p *packet.Packet, now bool) error {
	switch p.Kind {
	case packet.KindError, packet.KindPing, packet.KindPong:
		return nil
	}
	text := p.Encode(Encoder)
	frames := []engineio.Frame{{Data: text}}
	if atts := Attachments(p); len(atts) > 0 {
		frames = make([]engineio.Frame, 0, 1+len(atts))
		frames = append(frames, engineio.Frame{Data: text})
		for _, a := range atts {
			frames = append(frames, engineio.Frame{Data: a, Binary: true})
		}
	}
	if now {
		return c.es.SendFramesNow(p.Volatile, frames...)
	}
	return c.es.SendFrames(p.Volatile, frames...)
}

// Close implements transport.Conn: Socket.IO has no close codes, so code is not sent; the reason
// reaches the session's Closed.
func (c *Conn) Close(code int, reason string) { c.es.Close(reason) }

// decoders holds the decoders of connections with no binary packet pending: an idle connection keeps
// none (a Decoder and the scanner state it reuses are a few hundred bytes). A decoder keeps nothing of
// the packets it returned.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// OnMessage implements engineio.Handler.
func (c *Conn) OnMessage(data []byte, binary bool) {
	dec := c.dec
	if dec == nil {
		dec = decoders.Get().(*Decoder)
		dec.MaxAttachments, dec.MaxAttachmentBytes = c.srv.max, c.srv.maxBytes
	}
	var p *packet.Packet
	var err error
	if binary {
		p, err = dec.Binary(data)
	} else {
		p, err = dec.Text(data)
	}
	if dec.Pending() {
		c.dec = dec
	} else {
		c.dec = nil
		decoders.Put(dec)
	}
	if err != nil {
		// Socket.IO closes the connection on a packet it cannot parse.
		c.waiting.Store(0)
		c.es.Close(transport.ReasonParseError)
		return
	}
	if p == nil {
		// A binary packet waiting for its attachments: arm its deadline when it starts.
		if !binary {
			c.attGen++
			gen := c.attGen
			c.waiting.Store(gen)
			if c.attTime != nil {
				c.attTime.Stop()
			}
			c.attTime = time.AfterFunc(c.srv.attWait, func() {
				if c.waiting.Load() == gen {
					c.es.Close(transport.ReasonParseError)
				}
			})
		}
		return
	}
	if c.waiting.Load() != 0 {
		c.waiting.Store(0)
		c.attTime.Stop()
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
func (c *Conn) OnClose(reason string) {
	if c.attTime != nil {
		c.attTime.Stop()
	}
	c.session.Closed(reason)
}
