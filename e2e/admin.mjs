// admin.mjs drives the official Socket.IO Admin UI (npm @socket.io/admin-ui, its built files served by
// the node at /admin/) in headless Chromium against a running roomio node started with -admin-ui:
//
//   node e2e/admin.mjs http://127.0.0.1:PORT/ USER PASSWORD
//
// A socket.io-client socket joins room "e2e-room" through the chat app; the UI is opened, refused with a
// wrong password, connected with the right one; the test socket must be listed on the sockets page and
// its room on the rooms page; then the UI's "disconnect" button on its row must disconnect it on the
// server (the client sees "io server disconnect" and the node's /api/v1/sockets no longer lists it).
// Chromium is Debian's (/usr/bin/chromium or $CHROMIUM) through playwright-core. Exit status 0 means
// the scenario passed; otherwise the reason is printed on stderr.
import { chromium } from "playwright-core";
import { io } from "socket.io-client";

const STEP_MS = 15_000;
const TOTAL_MS = Number(process.env.ROOMIO_E2E_TIMEOUT_MS) || 90_000;
const ROOM = "e2e-room";

const [base, user, password, api] = process.argv.slice(2);
if (!base || !user || !password) {
  console.error("usage: node admin.mjs BASE_URL USER PASSWORD");
  process.exit(2);
}
const origin = base.replace(/\/$/, "");

function log(...args) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...args);
}

async function step(what, fn) {
  log(what);
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${err.message.split("\n")[0]}`, { cause: err });
  }
}

let browser, sock;
const consoleLines = [];

async function listedIDs() {
  const res = await fetch(`${api}/api/v1/sockets?namespace=/`);
  if (!res.ok) throw new Error(`GET /api/v1/sockets: ${res.status}`);
  return (await res.json()).sockets.map((s) => s.id);
}

async function run() {
  const id = await step("test socket: connect and join " + ROOM, async () => {
    sock = io(origin, { reconnection: false, transports: ["websocket"] });
    await new Promise((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("connect_error", reject);
    });
    const ack = await sock.timeout(STEP_MS).emitWithAck("join", ROOM);
    if (!ack || !ack.ok) throw new Error(`join answered ${JSON.stringify(ack)}`);
    return sock.id;
  });
  log(`test socket is ${id}`);
  const disconnected = new Promise((resolve) => sock.once("disconnect", resolve));

  await step("launch chromium", async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout: STEP_MS,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`page error: ${e.message}`));
  // index.html links web fonts and icons from CDNs; this machine is offline, so refuse them at once.
  await page.route((url) => !url.href.startsWith(origin), (route) => route.abort());

  await step("open the Admin UI at /admin/", async () => {
    const res = await page.goto(`${origin}/admin/`, { waitUntil: "load" });
    if (!res || !res.ok()) throw new Error(`status ${res ? res.status() : "none"}`);
    await page.getByLabel("Server URL").waitFor();
  });
  await step("wrong password is refused", async () => {
    await page.getByLabel("Server URL").fill(origin);
    await page.getByLabel("Username").fill(user);
    await page.getByLabel("Password").fill(password + "-wrong");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText("Invalid credentials").waitFor();
  });
  await step("right password connects", async () => {
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByLabel("Server URL").waitFor({ state: "hidden" });
  });

  await step("the test socket is listed on the sockets page", async () => {
    await page.goto(`${origin}/admin/#/sockets/`);
    await page.locator("tr", { hasText: id }).waitFor();
  });
  await step(`its room ${ROOM} is listed on the rooms page`, async () => {
    await page.goto(`${origin}/admin/#/rooms/`);
    await page.locator("tr", { hasText: ROOM }).waitFor();
  });
  await step("disconnect it from its row", async () => {
    await page.goto(`${origin}/admin/#/sockets/`);
    // The page change is animated: until the rooms page has left, rows of both pages name the socket.
    await page.waitForFunction(
      (id) => [...document.querySelectorAll("tbody tr")].filter((tr) => tr.innerText.includes(id)).length === 1,
      id,
    );
    const row = page.locator("tbody tr", { hasText: id });
    await row.locator("button").click();
    const reason = await Promise.race([disconnected, new Promise((_, rej) => setTimeout(() => rej(new Error("not disconnected")), STEP_MS))]);
    if (reason !== "io server disconnect") throw new Error(`disconnect reason ${reason}`);
    // The button's click also reaches its row, which opens the socket's page; the sockets page, back
    // there, no longer lists it (the UI dropped it on socket_disconnected).
    await page.goto(`${origin}/admin/#/sockets/`);
    await page
      .waitForFunction((id) => ![...document.querySelectorAll("tbody tr")].some((tr) => tr.innerText.includes(id)), id)
      .catch(async (err) => {
        const rows = await page.$$eval("tbody tr", (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, " ")));
        throw new Error(`${err.message.split("\n")[0]}; rows: ${JSON.stringify(rows)}`);
      });
  });
  await step("the node no longer lists it", async () => {
    const ids = await listedIDs();
    if (ids.includes(id)) throw new Error(`/api/v1/sockets still lists ${id}: ${ids}`);
  });
}

const overall = setTimeout(() => {
  console.error(`FAIL: e2e admin did not finish within ${TOTAL_MS} ms`);
  if (consoleLines.length) console.error(consoleLines.join("\n"));
  process.exit(1);
}, TOTAL_MS);

let code = 0;
try {
  await run();
  log("PASS: the Admin UI listed the socket and disconnected it");
} catch (err) {
  code = 1;
  console.error(`FAIL: ${err.message}`);
  if (consoleLines.length) console.error("--- browser console ---\n" + consoleLines.join("\n"));
} finally {
  if (sock) sock.close();
  if (browser) await browser.close().catch(() => {});
  clearTimeout(overall);
}
process.exit(code);
