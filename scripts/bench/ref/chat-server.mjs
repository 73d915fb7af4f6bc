// The chat contract of roomio's built-in app (examples/chat/chatapp, `go run ./cmd/roomio`) on Node
// socket.io 4.8.4: the reference ("A") side of scripts/bench/compare.sh. It keeps only what the
// benchmark exercises: no history, no sequence numbers, no reserved names.
//
//   join(room, ack)        joins room, tells the room's other members `joined` {room, id};
//                          ack {ok:true, rooms:[...]}; a room that is not a string of 1-128 bytes:
//                          ack {ok:false, error:"invalid room"}
//   leave(room, ack)       leaves room; ack {ok:true, rooms:[...]}
//   say(room, payload, ack)  not a member: ack {ok:false, error:"not in room"}; else `said`
//                          {room, from, payload} to every member of room (the sender too), ack {ok:true}
//   whisper(id, payload)   `whispered` {from, payload} to socket id
//
// GET /healthz answers 200. Listens on 127.0.0.1:$PORT (default 8080) and prints "ready" once it does.
// With REDIS_URL set, the processes started with it form one server through the Redis adapter.
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.PORT || 8080);
const srv = http.createServer((req, res) => {
  if (req.url === "/healthz") return res.end("ok");
  res.writeHead(404);
  res.end();
});
// RECOVERY_MS: connection state recovery for that long after a disconnection (Socket.IO's default is
// none; compare.sh's RECOVERY_S knob sets it). Not with REDIS_URL: the Redis adapter does not recover.
const recoveryMs = Number(process.env.RECOVERY_MS || 0);
const io = new Server(srv, recoveryMs > 0 && !process.env.REDIS_URL ? { connectionStateRecovery: { maxDisconnectionDuration: recoveryMs } } : {});
// REDIS_URL: several processes share their rooms through @socket.io/redis-adapter (compare.sh's cluster
// scenario).
if (process.env.REDIS_URL) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}
const okRoom = (r) => typeof r === "string" && Buffer.byteLength(r) >= 1 && Buffer.byteLength(r) <= 128;
const ackIf = (ack, v) => typeof ack === "function" && ack(v);

io.on("connection", (s) => {
  const rooms = () => [...s.rooms];
  s.on("join", (room, ack) => {
    if (!okRoom(room)) return ackIf(ack, { ok: false, error: "invalid room" });
    s.join(room);
    s.to(room).emit("joined", { room, id: s.id });
    ackIf(ack, { ok: true, rooms: rooms() });
  });
  s.on("leave", (room, ack) => {
    if (okRoom(room)) s.leave(room);
    ackIf(ack, { ok: true, rooms: rooms() });
  });
  s.on("say", (room, payload, ack) => {
    if (!okRoom(room) || !s.rooms.has(room)) return ackIf(ack, { ok: false, error: "not in room" });
    io.to(room).emit("said", { room, from: s.id, payload });
    ackIf(ack, { ok: true });
  });
  s.on("whisper", (id, payload) => {
    if (typeof id === "string" && id !== "") io.to(id).emit("whispered", { from: s.id, payload });
  });
});

srv.listen(port, "127.0.0.1", () => console.log("ready"));
