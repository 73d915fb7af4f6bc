// roomio.js — a small, dependency-free browser client for roomio's native protocol (roomio.wire.v1) in its
// JSON mapping: WebSocket subprotocol "roomio.v1.json", one Frame {"messages":[...]} per text message.
//
// This file is an ES module:
//
//   import { connect } from "/roomio.js";
//   const sock = connect("ws://host/path", { namespace: "/", auth: { name: "ann" } });
//   sock.on("connect", () => console.log("connected as", sock.id));
//   sock.on("said", (msg) => console.log(msg));
//   const res = await sock.emitWithAck("join", "lobby");
//
// The API is a small subset of socket.io-client's:
//   sock.on(event, fn) / sock.off(event, fn) / sock.once(event, fn)
//       Local events: "connect", "connect_error" (Error with .data), "disconnect" (reason, details) and
//       "server_error" (Error with .code: the server's non-fatal Error message about something we sent; the
//       codes are in docs/protocol.md).
//       For server events, fn gets the arguments; when the server asked for an ack the last argument is a
//       function that answers it (call it at most once).
//   sock.emit(event, ...args)           a function as last argument is the ack callback
//   sock.emitWithAck(event, ...args)    a Promise of the ack's first argument; rejected on disconnect or
//                                       after options.ackTimeout ms (0, the default, waits forever)
//   sock.roomEmit(room, event, ...args)     a message for the code of a behaviour room the socket is in
//                                       (the native roomMessage); failures arrive as "server_error"
//   sock.roomRequest(room, event, ...args)  a Promise of the room's answer (first argument); rejected with
//                                       the server's Error (.code 7–11, docs/protocol.md), on disconnect,
//                                       or after options.ackTimeout ms
//   sock.id, sock.connected, sock.active, sock.recovered, sock.close(), sock.connect()
//
// Connection state recovery (docs/recovery.md): when the server keeps sockets for recovery, a socket that
// reconnects after an unexpected close presents its resume token and the offset of the last event it
// received. If the server still holds its socket, "connect" fires with sock.recovered true, the same
// sock.id and rooms, then every event missed while away, in order; otherwise sock.recovered is false and
// the socket is a fresh one (new id, no rooms).
//
// Arguments are JSON values; a Uint8Array, ArrayBuffer or other ArrayBufferView goes as a binary argument
// and binary arguments arrive as Uint8Array. Emits made while disconnected are buffered and sent once the
// namespace is connected. After an unexpected close the socket reconnects with a randomised backoff of 1–5 s;
// it does not when the server sent Disconnect, refused the connect (connect_error from the server), or
// close() was called, or the server closed the WebSocket with 1000 (a deliberate disconnect).
//
// Wire notes (protobuf JSON mapping): uint64 fields (ackId, seq) are strings on output and may be numbers or
// strings on input; zero values are omitted (a missing namespace is "/", a missing ackId is none).

const SUBPROTOCOL = "roomio.v1.json";

// Events kept while a recovered session is replayed (the server sends at most twice its MaxBuffered).
const MAX_REPLAYED = 16384;

// Reason strings passed to "disconnect" listeners, as in socket.io-client.
const REASON_SERVER = "io server disconnect";
const REASON_CLIENT = "io client disconnect";
const REASON_TRANSPORT = "transport close";
const REASON_PING = "ping timeout";

// WebSocket close codes with a meaning for the client (docs/protocol.md, "Close codes").
const CLOSE_NORMAL = 1000; // the server disconnected us on purpose: do not reconnect
const CLOSE_PING_TIMEOUT = 4001;

// Event names the server refuses from clients (error code 4), as in Socket.IO.
const RESERVED = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

const DEFAULTS = {
  namespace: "/",
  auth: undefined, // object, or function returning one (called on every connect attempt)
  reconnection: true,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  randomizationFactor: 0.5,
  ackTimeout: 0,
  maxBuffered: 1000, // emits kept while disconnected; older ones are dropped beyond this
  autoConnect: true,
};

// connect returns a Socket for url (ws:, wss:, http:, https:, or relative to the page) and starts
// connecting unless options.autoConnect is false.
export function connect(url, options) {
  return new Socket(url, options);
}

export class Socket {
  constructor(url, options = {}) {
    this.opts = { ...DEFAULTS, ...options };
    this.nsp = this.opts.namespace || "/";
    this.url = toWebSocketURL(url);
    this.id = undefined;
    this.connected = false;
    this.active = false; // connecting, connected, or waiting to reconnect

    this._listeners = new Map();
    this._ws = null;
    this._acks = new Map(); // ackId (string) → {fn, reject, timer}
    this._nextAck = 1;
    this._buffer = []; // messages waiting for the namespace connection
    this._attempts = 0;
    this._retryTimer = null;
    this._serverDisconnected = false;
    this.recovered = false;
    this._resumeToken = ""; // the latest Connected's, presented on reconnection
    this._offset = ""; // the last recoverable event's
    this._replayed = []; // events a recovered session replays before its Connected

    if (this.opts.autoConnect) this.connect();
  }

  // connect (re)opens the connection; it does nothing while one is open or pending.
  connect() {
    if (this.active) return this;
    this.active = true;
    this._serverDisconnected = false;
    this._open();
    return this;
  }

  // close leaves the namespace and closes the connection; no reconnect follows.
  close() {
    const wasConnected = this.connected;
    this.active = false;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      if (wasConnected) this._sendRaw(ws, [{ disconnect: { namespace: this.nsp } }]);
      detach(ws);
      try {
        ws.close(1000, "client close");
      } catch (_) {
        // already closing
      }
    }
    this._buffer = [];
    if (wasConnected) this._lost(REASON_CLIENT);
    return this;
  }

  disconnect() {
    return this.close();
  }

  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = []));
    set.push(fn);
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.fn = fn;
    return this.on(event, wrapper);
  }

  off(event, fn) {
    if (event === undefined) {
      this._listeners.clear();
      return this;
    }
    const set = this._listeners.get(event);
    if (!set) return this;
    if (fn === undefined) {
      this._listeners.delete(event);
      return this;
    }
    const i = set.findIndex((l) => l === fn || l.fn === fn);
    if (i >= 0) set.splice(i, 1);
    return this;
  }

  emit(event, ...args) {
    let ack;
    if (args.length > 0 && typeof args[args.length - 1] === "function") ack = args.pop();
    this._emit(event, args, ack);
    return this;
  }

  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      const entry = this._emit(event, args, (first) => resolve(first));
      entry.reject = reject;
      if (this.opts.ackTimeout > 0) {
        entry.timer = setTimeout(() => {
          this._acks.delete(entry.id);
          reject(new Error(`roomio: ack for "${event}" timed out`));
        }, this.opts.ackTimeout);
      }
    });
  }

  roomEmit(room, event, ...args) {
    this._roomEmit(room, event, args, null);
    return this;
  }

  roomRequest(room, event, ...args) {
    return new Promise((resolve, reject) => {
      const entry = this._roomEmit(room, event, args, (first) => resolve(first));
      entry.reject = reject;
      if (this.opts.ackTimeout > 0) {
        entry.timer = setTimeout(() => {
          this._acks.delete(entry.id);
          reject(new Error(`roomio: no answer from room "${room}" in time`));
        }, this.opts.ackTimeout);
      }
    });
  }

  // ---- internals ----

  // _roomEmit sends (or buffers) one RoomMessage; with ack it registers and returns the pending entry.
  _roomEmit(room, event, args, ack) {
    if (typeof room !== "string" || room === "") throw new TypeError("roomio: room name must be a non-empty string");
    if (typeof event !== "string" || event === "") throw new TypeError("roomio: event name must be a non-empty string");
    const msg = { namespace: this.nsp, room, name: event };
    if (args.length > 0) msg.args = args.map(encodeArg);
    let entry;
    if (ack) {
      entry = { id: String(this._nextAck++), fn: ack, reject: null, timer: null };
      msg.ackId = entry.id;
      this._acks.set(entry.id, entry);
    }
    this._send({ roomMessage: msg });
    return entry;
  }

  // _emit sends (or buffers) one Event; with ack it registers and returns the pending ack entry.
  _emit(event, args, ack) {
    if (typeof event !== "string" || event === "") throw new TypeError("roomio: event name must be a non-empty string");
    if (RESERVED.has(event)) throw new Error(`roomio: "${event}" is a reserved event name`);
    const ev = { namespace: this.nsp, name: event };
    if (args.length > 0) ev.args = args.map(encodeArg);
    let entry;
    if (ack) {
      entry = { id: String(this._nextAck++), fn: ack, reject: null, timer: null };
      ev.ackId = entry.id;
      this._acks.set(entry.id, entry);
    }
    this._send({ event: ev });
    return entry;
  }

  _fire(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of set.slice()) {
      try {
        fn.apply(this, args);
      } catch (err) {
        // A throwing listener must not break the protocol loop.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  // _onEvent delivers a server event (live or replayed) and remembers its offset.
  _onEvent(ws, body) {
    if (body.offset) this._offset = body.offset;
    const args = (body.args || []).map(decodeArg);
    const ackId = body.ackId !== undefined && String(body.ackId) !== "0" ? String(body.ackId) : null;
    if (ackId !== null) {
      let sent = false;
      args.push((...res) => {
        if (sent) return;
        sent = true;
        const ack = { namespace: this.nsp, ackId };
        if (res.length > 0) ack.args = res.map(encodeArg);
        this._send({ ack });
      });
    }
    this._fire(body.name, ...args);
  }

  _open() {
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch (err) {
      this._fire("connect_error", err);
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      let auth = this.opts.auth;
      if (typeof auth === "function") auth = auth();
      const c = { namespace: this.nsp };
      if (auth !== undefined && auth !== null) c.auth = JSON.stringify(auth);
      if (this._resumeToken) {
        c.resumeToken = this._resumeToken;
        if (this._offset) c.offset = this._offset;
      }
      this._replayed = [];
      this._sendRaw(ws, [{ connect: c }]);
    };
    ws.onmessage = (e) => this._onFrame(ws, e.data);
    ws.onerror = () => {
      // The close event that always follows carries what we need.
    };
    ws.onclose = (e) => this._onClose(ws, e);
  }

  _onClose(ws, e) {
    if (ws !== this._ws) return;
    this._ws = null;
    if (e.code === CLOSE_NORMAL) this._serverDisconnected = true;
    if (this.connected) {
      let reason = REASON_TRANSPORT;
      if (e.code === CLOSE_NORMAL) reason = REASON_SERVER;
      else if (e.code === CLOSE_PING_TIMEOUT) reason = REASON_PING;
      this._lost(reason, { code: e.code, reason: e.reason });
    } else if (!this._serverDisconnected && this.active) {
      const err = new Error(`roomio: connection closed before connect (code ${e.code}${e.reason ? ": " + e.reason : ""})`);
      err.data = { code: e.code, reason: e.reason };
      this._fire("connect_error", err);
    }
    if (this._serverDisconnected) {
      this.active = false;
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (!this.active) return;
    if (!this.opts.reconnection) {
      this.active = false;
      return;
    }
    const o = this.opts;
    let delay = Math.min(o.reconnectionDelay * 2 ** this._attempts, o.reconnectionDelayMax);
    const jitter = delay * o.randomizationFactor * (Math.random() * 2 - 1);
    delay = Math.max(o.reconnectionDelay, Math.min(o.reconnectionDelayMax, delay + jitter));
    this._attempts++;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this.active && !this._ws) this._open();
    }, delay);
  }

  // _lost ends the namespace connection: it fails pending emitWithAck promises and tells listeners.
  _lost(reason, details) {
    this.connected = false;
    this.id = undefined;
    const acks = this._acks;
    this._acks = new Map();
    for (const a of acks.values()) {
      clearTimeout(a.timer);
      if (a.reject) a.reject(new Error(`roomio: disconnected (${reason})`));
    }
    this._fire("disconnect", reason, details);
  }

  _send(msg) {
    if (this.connected && this._ws) {
      this._sendRaw(this._ws, [msg]);
      return;
    }
    this._buffer.push(msg);
    if (this._buffer.length > this.opts.maxBuffered) this._buffer.shift();
  }

  _sendRaw(ws, messages) {
    if (ws.readyState !== 1 /* OPEN */) return false;
    ws.send(JSON.stringify({ messages }));
    return true;
  }

  _onFrame(ws, data) {
    if (typeof data !== "string") return; // the JSON subprotocol only uses text frames
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      return;
    }
    const msgs = frame && Array.isArray(frame.messages) ? frame.messages : [];
    for (const m of msgs) {
      if (ws !== this._ws) return; // closed by a listener meanwhile
      if (m && typeof m === "object") this._onMessage(ws, m);
    }
  }

  _onMessage(ws, m) {
    if (m.ping) {
      // Answer at once: the server closes the connection when the pong is late.
      const pong = {};
      if (m.ping.seq !== undefined) pong.seq = String(m.ping.seq);
      this._sendRaw(ws, [{ pong }]);
      return;
    }
    if (m.pong) return;
    const kind = Object.keys(m).find((k) => m[k] && typeof m[k] === "object");
    if (!kind) return;
    const body = m[kind];
    if ((body.namespace || "/") !== this.nsp) return;
    switch (kind) {
      case "connected": {
        // A recovered session is answered with the same sid and the token we presented.
        this.recovered = !!this._resumeToken && body.resumeToken === this._resumeToken;
        if (!this.recovered) this._offset = "";
        this._resumeToken = body.resumeToken || "";
        this.id = body.sid;
        this.connected = true;
        this._attempts = 0;
        const buffered = this._buffer;
        this._buffer = [];
        if (buffered.length > 0) this._sendRaw(ws, buffered);
        const replayed = this.recovered ? this._replayed : [];
        this._replayed = [];
        this._fire("connect");
        // As socket.io-client: the missed events after "connect".
        for (const ev of replayed) this._onEvent(ws, ev);
        break;
      }
      case "connectError": {
        // A refusal by the server (auth, middleware): do not retry on our own.
        const err = new Error(body.message || "roomio: connect refused");
        err.data = parseJSON(body.data);
        this._serverDisconnected = true;
        this.active = false;
        this._ws = null;
        detach(ws);
        ws.close(1000, "connect refused");
        this._fire("connect_error", err);
        break;
      }
      case "event": {
        if (!this.connected) {
          // Only a recovered session's replay arrives before its Connected: kept until then.
          if (this._resumeToken && this._replayed.length < MAX_REPLAYED) this._replayed.push(body);
          break;
        }
        this._onEvent(ws, body);
        break;
      }
      case "ack": {
        const id = String(body.ackId || "0");
        const a = this._acks.get(id);
        if (!a) return;
        this._acks.delete(id);
        clearTimeout(a.timer);
        a.fn(...(body.args || []).map(decodeArg));
        break;
      }
      case "disconnect": {
        this._serverDisconnected = true;
        this.active = false;
        clearTimeout(this._retryTimer);
        this._ws = null;
        detach(ws);
        ws.close(1000, "server disconnect");
        if (this.connected) this._lost(REASON_SERVER, { code: body.code || 0, reason: body.reason || "" });
        break;
      }
      case "error": {
        const err = new Error(body.message || "roomio: server error");
        err.code = body.code || 0;
        // An Error carrying an ack id answers a roomRequest: it fails that request instead.
        const id = body.ackId !== undefined ? String(body.ackId) : "0";
        const a = id !== "0" ? this._acks.get(id) : undefined;
        if (a && a.reject) {
          this._acks.delete(id);
          clearTimeout(a.timer);
          a.reject(err);
          break;
        }
        this._fire("server_error", err);
        break;
      }
      default:
      // A kind this client does not know (a newer server): ignore it.
    }
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
}

function toWebSocketURL(url) {
  const base = typeof location !== "undefined" ? location.href : undefined;
  const u = new URL(url === undefined ? "/" : String(url), base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.toString();
}

function encodeArg(v) {
  if (v instanceof ArrayBuffer) return { binary: toBase64(new Uint8Array(v)) };
  if (ArrayBuffer.isView(v)) return { binary: toBase64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  const json = JSON.stringify(v);
  return { json: json === undefined ? "null" : json };
}

function decodeArg(a) {
  if (a && typeof a.json === "string") {
    const v = parseJSON(a.json);
    // Binary data a Socket.IO client nested in the value: put each buffer back where its placeholder is.
    return Array.isArray(a.attachments) && a.attachments.length ? fillPlaceholders(v, a.attachments.map(fromBase64)) : v;
  }
  if (a && typeof a.binary === "string") return fromBase64(a.binary);
  return null; // an Arg with no value is JSON null
}

function fillPlaceholders(v, atts) {
  if (v === null || typeof v !== "object") return v;
  if (v._placeholder === true && Number.isInteger(v.num) && v.num >= 0 && v.num < atts.length) return atts[v.num];
  for (const k of Object.keys(v)) v[k] = fillPlaceholders(v[k], atts);
  return v;
}

function parseJSON(s) {
  if (s === undefined || s === "") return undefined;
  try {
    return JSON.parse(s);
  } catch (_) {
    return s;
  }
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s) {
  // protojson accepts and may produce either alphabet, padded or not.
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export default { connect, Socket };
