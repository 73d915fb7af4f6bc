// Token auth with the official socket.io-client against a roomio server started by a Go test
// (engine/auth/sio_test.go):  AUTH_TOKENS='{"valid":…,…}' node auth.mjs <baseURL>
// Prints one line per check ("whoami …", "refused NAME MESSAGE DATA", "refresh …", "disconnect REASON"),
// then "ok"; the Go test compares the lines. Exits 1 on a scenario error.
import { io } from "socket.io-client";

const base = process.argv[2];
const tokens = JSON.parse(process.env.AUTH_TOKENS);
const fail = (msg) => {
  console.log("FAIL " + msg);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 20000);
const connect = (opts) =>
  new Promise((resolve, reject) => {
    const s = io(base, { reconnection: false, ...opts });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => {
      s.close();
      reject(err);
    });
  });

// A valid token in auth.token, over the default transports and websocket only.
for (const transports of [["polling", "websocket"], ["websocket"]]) {
  const s = await connect({ auth: { token: tokens.valid }, transports });
  console.log("whoami " + transports.join("+") + " " + JSON.stringify(await s.emitWithAck("whoami")));
  console.log("join-secret " + JSON.stringify((await s.emitWithAck("join", "secret")).not_allowed));
  s.close();
}
// The same token in an Authorization header on the opening request (polling carries extraHeaders).
{
  const s = await connect({ transports: ["polling"], extraHeaders: { Authorization: "Bearer " + tokens.valid } });
  console.log("whoami header " + JSON.stringify(await s.emitWithAck("whoami")));
  s.close();
}
// Refused: each is a connect_error with the documented message and data.
for (const name of ["missing", "expired", "badsig", "none", "pubhs"]) {
  try {
    const s = await connect(name === "missing" ? {} : { auth: { token: tokens[name] } });
    s.close();
    fail(name + " connected");
  } catch (err) {
    console.log(`refused ${name} ${err.message} ${JSON.stringify(err.data)}`);
  }
}
// Refresh moves the expiry; a socket that does not refresh is disconnected at its exp.
{
  const s = await connect({ auth: { token: tokens.short } });
  const disconnected = new Promise((r) => s.once("disconnect", (...a) => r(a)));
  const bad = await s.timeout(4000).emitWithAck("roomio:refresh", "garbage");
  console.log("refresh-bad " + JSON.stringify(bad, ["ok", "code", "message"]));
  const [reason] = await disconnected;
  console.log("disconnect " + reason);
}
console.log("ok");
process.exit(0);
