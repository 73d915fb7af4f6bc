// Socket.IO compatibility scenarios, run with the official socket.io-client against a roomio server
// started by a Go test (engine/socketio_test.go):  node sio.mjs <scenario> <baseURL>
// Each scenario prints "ok" and exits 0, or prints what went wrong and exits 1. Lines starting with
// "step " tell the Go test where the scenario is, for scenarios that need the server to act.
import { io, Manager } from "socket.io-client";
import { createInterface } from "node:readline";

const [scenario, base] = process.argv.slice(2);
const fail = (msg) => {
  console.log("FAIL " + msg);
  process.exit(1);
};
const timer = setTimeout(() => fail(`scenario ${scenario} timed out`), 20000);
const eq = (a, b, what) => {
  const ja = JSON.stringify(a), jb = JSON.stringify(b);
  if (ja !== jb) fail(`${what}: got ${ja}, want ${jb}`);
};
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const connected = (s) =>
  new Promise((resolve, reject) => {
    if (s.connected) return resolve();
    s.once("connect", resolve);
    s.once("connect_error", reject);
  });
// Lines the Go test writes to our stdin, one per server-side step it completed.
const stdin = createInterface({ input: process.stdin });
const lines = [];
let waiting = null;
stdin.on("line", (l) => (waiting ? (waiting(l), (waiting = null)) : lines.push(l)));
const nextLine = () => new Promise((r) => (lines.length ? r(lines.shift()) : (waiting = r)));

const scenarios = {
  // Default transports: polling first, then the upgrade to websocket; an ack round trip on each.
  async "default-transports"() {
    const s = io(base, { reconnection: false });
    let first = "";
    s.io.on("open", () => (first = s.io.engine.transport.name)); // before any upgrade can happen
    const upgraded = new Promise((r) => s.io.on("open", () => s.io.engine.once("upgrade", r)));
    await connected(s);
    eq(first, "polling", "first transport");
    eq(await s.emitWithAck("add", 2, 3), 5, "ack over polling");
    await upgraded;
    eq(s.io.engine.transport.name, "websocket", "upgraded transport");
    eq(await s.emitWithAck("add", 20, 22), 42, "ack over websocket");
    s.close();
  },
  // Long-polling only, never upgraded: an ack round trip, a server emit the client acks, a binary server
  // emit. Run by the Go tests directly and behind a round-robin proxy over cluster nodes.
  async "polling-only"() {
    const s = io(base, { transports: ["polling"], reconnection: false });
    s.on("question", (q, cb) => cb(q + "!"));
    await connected(s);
    eq(s.io.engine.transport.name, "polling", "transport");
    eq(await s.emitWithAck("add", 2, 3), 5, "ack over polling");
    eq(await s.emitWithAck("ask-me", "why"), "why!", "server→client ack relayed back");
    const [gift] = await new Promise((r) => {
      s.once("gift", (...a) => r(a));
      s.emit("send-gift");
    });
    if (!Buffer.from(gift).equals(Buffer.from("roomio"))) fail("server binary differs");
    eq(s.io.engine.transport.name, "polling", "transport at the end");
    s.close();
  },
  async "websocket-only"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    await connected(s);
    eq(s.io.engine.transport.name, "websocket", "transport");
    eq(await s.emitWithAck("add", 1, 1), 2, "ack");
    s.close();
  },
  // Two namespaces multiplexed on one Manager, isolated; an unknown namespace is refused.
  async namespaces() {
    const m = new Manager(base, { reconnection: false });
    const root = m.socket("/");
    const admin = m.socket("/admin");
    await Promise.all([connected(root), connected(admin)]);
    eq(await admin.emitWithAck("whoami"), "/admin", "admin namespace");
    eq(await root.emitWithAck("whoami"), "/", "root namespace");
    const nope = m.socket("/nope");
    const [err] = await once(nope, "connect_error");
    eq(err.message, "Invalid namespace", "unknown namespace error");
    m._close?.();
    root.close();
    admin.close();
  },
  async "auth-middleware"() {
    const bad = io(base, { auth: { token: "wrong" }, reconnection: false, forceNew: true });
    const [err] = await once(bad, "connect_error");
    eq(err.message, "not authorized", "connect_error message");
    eq(err.data, { hint: "send a token" }, "connect_error data");
    bad.close();
    const good = io(base, { auth: { token: "secret" }, reconnection: false, forceNew: true });
    await connected(good);
    eq(await good.emitWithAck("my-auth"), { token: "secret" }, "handshake auth seen by the server");
    good.close();
  },
  // Acks both ways, emitWithAck with timeout().
  async acks() {
    const s = io(base, { reconnection: false });
    s.on("question", (q, cb) => cb(q + "!"));
    await connected(s);
    eq(await s.emitWithAck("ask-me", "why"), "why!", "server→client ack relayed back");
    eq(await s.emitWithAck("add", 2, 2), 4, "client→server ack");
    try {
      await s.timeout(200).emitWithAck("never-acked");
      fail("emitWithAck resolved without an ack");
    } catch (e) {
      if (!/timed? ?out/i.test(String(e.message))) fail("unexpected error " + e.message);
    }
    s.close();
  },
  // A server broadcast to a room reaches this Socket.IO client; the Go test checks its native client.
  async "broadcast-mixed"() {
    const s = io(base, { reconnection: false });
    await connected(s);
    eq(await s.emitWithAck("join", "mixed"), true, "join ack");
    const news = once(s, "news");
    console.log("step joined");
    await nextLine(); // the Go test has broadcast
    const [msg] = await news;
    eq(msg, { from: "server", n: 1 }, "broadcast payload");
  },
  // A behaviour room refuses a join with its reason, which the app's handler forwards in the ack; once
  // in, a message the app passes to the room is answered by the room's code and broadcast by it.
  async "behavior-room"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    await connected(s);
    eq(await s.emitWithAck("join-room", { room: "vault:1", password: "guess" }), { error: "wrong password" }, "refused join");
    eq(await s.emitWithAck("join-room", { room: "lobby", password: "x" }), { error: "engine: room has no behaviour" }, "plain room");
    eq(await s.emitWithAck("join-room", { room: "vault:1", password: "secret" }), { ok: true }, "accepted join");
    const said = once(s, "said");
    eq(await s.emitWithAck("room-say", "vault:1", "hi"), { ok: true, seq: 1 }, "room answer");
    eq((await said)[0], { seq: 1, text: "hi" }, "room broadcast");
    eq(await s.emitWithAck("room-say", "vault:2", "hi"), { error: "actors: socket is not in the room" }, "not a member");
    s.close();
  },
  // The chat app of a node of a cluster (cmd/roomio/cluster_test.go): join "r", then a native client on
  // another node says to r; the Go test sends that client's socket id on stdin once its say was acked.
  async "cluster-chat"() {
    const s = io(base, { reconnection: false });
    await connected(s);
    const ack = await s.emitWithAck("join", "r");
    if (!Array.isArray(ack.history)) fail("join ack without a history: " + JSON.stringify(ack));
    delete ack.history;
    eq(ack, { count: 1, ok: true, rooms: ["r"] }, "join ack");
    const said = once(s, "said");
    console.log("step joined");
    const from = await nextLine();
    const [msg] = await said;
    if (!(msg.seq >= 1)) fail("said without a seq: " + JSON.stringify(msg));
    delete msg.seq; // numbered by the node it was said through (one room copy per node for now)
    eq(msg, { from, payload: { n: 1, text: "from node 1" }, room: "r" }, "said");
    s.close();
  },
  // The chat's find (join-or-create) from socket.io-client sockets on several nodes at once: extra
  // arguments are more base URLs; eight sockets per node ask for topic "ts" together. Every ack is ok
  // and names one room; exactly one says created; a bad topic is refused in the ack.
  async "cluster-find"() {
    const bases = [base, ...process.argv.slice(4)];
    const socks = bases.flatMap((b) => Array.from({ length: 8 }, () => io(b, { reconnection: false, transports: ["websocket"] })));
    await Promise.all(socks.map(connected));
    const acks = await Promise.all(socks.map((s) => s.timeout(10000).emitWithAck("find", { topic: "ts" })));
    for (const a of acks) {
      if (!a.ok || a.room !== acks[0].room || !Array.isArray(a.history)) fail("find ack: " + JSON.stringify(a) + " first " + JSON.stringify(acks[0]));
    }
    eq(acks.filter((a) => a.created).length, 1, "finds that created the room");
    const bad = await socks[0].emitWithAck("find", ["not", "an", "object"]);
    eq(bad, { error: "the topic must be an object of strings", ok: false }, "bad topic");
    console.log("step found " + acks[0].room); // the Go test lists the room, then answers
    await nextLine();
    socks.forEach((s) => s.close());
  },
  async binary() {
    const s = io(base, { reconnection: false });
    await connected(s);
    const sent = Buffer.from([0, 1, 2, 253, 254, 255]);
    // emitWithAck resolves with the first ack argument only: take them all with a callback.
    const [back, n] = await new Promise((r) => s.emit("bin-echo", sent, 7, (...a) => r(a)));
    if (!Buffer.from(back).equals(sent)) fail("binary echo differs: " + Buffer.from(back).toString("hex"));
    eq(n, 7, "json arg beside the binary");
    const [gift] = await new Promise((r) => {
      s.once("gift", (...a) => r(a));
      s.emit("send-gift");
    });
    if (!Buffer.from(gift).equals(Buffer.from("roomio"))) fail("server binary differs");
    s.close();
  },
  // Binary data nested in objects and arrays keeps its place when the server re-emits the arguments
  // (here in reverse order, so every attachment number changes): as an ack, an event and a broadcast.
  async "nested-binary"() {
    const s = io(base, { reconnection: false });
    await connected(s);
    const buf1 = Buffer.from([1, 1, 1]), buf2 = Buffer.from([2, 2]), buf3 = Buffer.from([3]);
    const check = (args, what) => {
      eq(args.length, 3, what + ": argument count");
      const [obj, arr, b1] = args;
      if (!Buffer.from(b1).equals(buf1)) fail(what + ": top-level buffer is not buf1");
      if (!Buffer.from(obj.nested[0]).equals(buf2)) fail(what + ": nested buffer is not buf2");
      eq(obj.nested[1], 7, what + ": number beside the nested buffer");
      eq(arr.length, 2, what + ": array argument");
      if (!Buffer.from(arr[0].deep).equals(buf3)) fail(what + ": deep buffer is not buf3");
      eq(arr[1], "x", what + ": string in the array");
    };
    const ev = once(s, "mirrored");
    const room = once(s, "mirrored-room");
    const ack = await new Promise((r) => s.emit("mirror", buf1, [{ deep: buf3 }, "x"], { nested: [buf2, 7] }, (...a) => r(a)));
    check(ack, "ack");
    check(await ev, "event");
    check(await room, "broadcast");
    s.close();
  },
  async "server-disconnect"() {
    const s = io(base, { reconnectionDelay: 100 });
    await connected(s);
    const [reason] = await new Promise((r) => {
      s.once("disconnect", (...a) => r(a));
      s.emit("kick-me");
    });
    eq(reason, "io server disconnect", "disconnect reason");
    eq(s.active, false, "socket still trying to reconnect");
    s.close();
  },
  async "client-disconnect"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    await connected(s);
    console.log("step connected " + s.id);
    const closed = once(s.io.engine, "close"); // the DISCONNECT packet is written before the close
    s.disconnect();
    await closed;
  },
  // The server goes away and comes back on the same address: the client reconnects by itself.
  async "reconnect-after-restart"() {
    const s = io(base, { reconnectionDelay: 100, reconnectionDelayMax: 500 });
    await connected(s);
    const first = s.id;
    console.log("step connected");
    await once(s, "disconnect");
    console.log("step disconnected");
    await once(s, "connect");
    if (s.id === first) fail("same socket id after a restart");
    eq(await s.emitWithAck("add", 1, 2), 3, "ack after reconnect");
    s.close();
  },
  // A client that stops answering pings is dropped by the server after pingTimeout.
  async "ping-timeout"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    await connected(s);
    const engine = s.io.engine;
    const send = engine._sendPacket.bind(engine); // engine.io-client 6.6: pings are answered through it
    engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
    const [reason] = await once(s, "disconnect");
    console.log("step disconnected " + reason);
  },
  // Connection state recovery (engine/recovery_test.go). The client joins rooms a and b, gets one message
  // (so it has an offset), loses its engine without a DISCONNECT packet, and reconnects when the Go test
  // says so, after it sent 20 messages to a, b, a+b and the socket's id: recovered, same id, both rooms,
  // the 20 once each and in emit order per target, then new messages flow. Transports: argv[4] ("websocket" or
  // "polling").
  async recover() {
    const transports = [process.argv[4] || "websocket"];
    const s = io(base, { transports, reconnection: false });
    const got = [];
    let offsetsOK = true;
    s.on("m", (n, offset) => {
      if (typeof offset !== "string") offsetsOK = false;
      got.push(n);
    });
    await connected(s);
    if (s.recovered) fail("recovered on the first connect");
    const id = s.id;
    eq(await s.emitWithAck("join", "a"), true, "join a");
    eq(await s.emitWithAck("join", "b"), true, "join b");
    console.log("step joined " + id);
    while (!got.includes("warm")) await once(s, "m");
    const gone = once(s, "disconnect");
    s.io.engine.close(); // no DISCONNECT packet: the server sees the transport close
    const [reason] = await gone;
    console.log("step away " + reason);
    await nextLine();
    const before = got.length;
    s.connect();
    await connected(s);
    eq(s.recovered, true, "recovered");
    eq(s.id, id, "id after recovery");
    // Every one once; in emit order per target (i % 4 names it), roomio's ordering guarantee.
    const missed = got.slice(before);
    eq([...missed].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i), "missed messages");
    for (let t = 0; t < 4; t++) {
      const per = missed.filter((n) => n % 4 === t);
      eq(per, [...per].sort((x, y) => x - y), "order of the messages to target " + t);
    }
    if (!offsetsOK) fail("an event came without its offset");
    eq(await s.emitWithAck("rooms"), [id, "a", "b"].sort(), "rooms after recovery");
    eq(await s.emitWithAck("recovered"), true, "Socket.Recovered on the server");
    const after = once(s, "m");
    s.emit("send-to-a", "after");
    eq((await after)[0], "after", "a new message");
    s.close();
  },
  // Away longer than the maximum: a fresh socket, no error.
  async "recover-expired"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    const got = [];
    s.on("m", (n) => got.push(n));
    await connected(s);
    const id = s.id;
    eq(await s.emitWithAck("join", "a"), true, "join a");
    console.log("step joined " + id);
    while (!got.includes("warm")) await once(s, "m");
    const gone = once(s, "disconnect");
    s.io.engine.close();
    await gone;
    console.log("step away");
    await nextLine();
    s.connect();
    await connected(s);
    eq(s.recovered, false, "recovered");
    if (s.id === id) fail("same id after expiry");
    eq(await s.emitWithAck("rooms"), [s.id], "rooms of the fresh socket");
    s.close();
  },
  // Connection state recovery through a round-robin proxy over node processes running the chat app
  // (cmd/roomio/recovery_test.go). The client joins chat room r, gets "warm" (sent to its id), loses its
  // engine without a DISCONNECT packet and reconnects when told to; it prints "step back <recovered>
  // <same id> <ms to connect> <JSON of the m arguments received meanwhile>". Recovered, it waits for one
  // more "after" and checks that it came once.
  async "recover-proxy"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    const got = [];
    let offsetsOK = true;
    s.on("m", (n, offset) => {
      if (typeof offset !== "string") offsetsOK = false;
      got.push(n);
    });
    await connected(s);
    const ack = await s.emitWithAck("join", "r");
    if (!ack.ok) fail("join r: " + JSON.stringify(ack));
    const id = s.id;
    console.log("step joined " + id);
    while (!got.includes("warm")) await once(s, "m");
    const gone = once(s, "disconnect");
    s.io.engine.close();
    await gone;
    console.log("step away");
    await nextLine();
    const before = got.length;
    const t0 = Date.now();
    s.connect();
    await connected(s);
    console.log(`step back ${s.recovered} ${s.id === id} ${Date.now() - t0} ${JSON.stringify(got.slice(before))}`);
    if (!offsetsOK) fail("an event came without its offset");
    if (s.recovered) {
      await nextLine();
      while (!got.includes("after")) await once(s, "m");
      eq(got.filter((x) => x === "after").length, 1, "after, once");
    }
    s.close();
  },
  // A client's own disconnect() is not recoverable.
  async "recover-client-disconnect"() {
    const s = io(base, { transports: ["websocket"], reconnection: false });
    const got = [];
    s.on("m", (n) => got.push(n));
    await connected(s);
    const id = s.id;
    eq(await s.emitWithAck("join", "a"), true, "join a");
    console.log("step joined " + id);
    while (!got.includes("warm")) await once(s, "m");
    s.disconnect();
    s.connect();
    await connected(s);
    eq(s.recovered, false, "recovered");
    if (s.id === id) fail("same id after disconnect()");
    s.close();
  },
};

const run = scenarios[scenario];
if (!run) fail("unknown scenario " + scenario);
run()
  .then(() => {
    clearTimeout(timer);
    console.log("ok");
    process.exit(0);
  })
  .catch((e) => fail(e && e.stack ? e.stack : String(e)));
