// chat.mjs drives the chat demo page in two real headless Chromium pages against a running roomio node:
// both join room "lobby", page A sees B join, A sends a message, and it appears in both logs. Then A's
// WebSocket drops (closed under roomio.js, redials held off) while B sends five messages; once A may
// redial it is recovered (connection state recovery): same id, still in the room, the five messages
// once each and in order.
//
//   node e2e/chat.mjs http://127.0.0.1:PORT/
//
// It uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, which never
// downloads a browser. Exit status 0 means the scenario passed; otherwise the reason is printed on stderr.
// Every step is bounded by a timeout, and the whole run by ROOMIO_E2E_TIMEOUT_MS (default 60 s).
import { chromium } from "playwright-core";

const STEP_MS = 15_000;
const TOTAL_MS = Number(process.env.ROOMIO_E2E_TIMEOUT_MS) || 60_000;
const ROOM = "lobby";

const base = process.argv[2];
if (!base) {
  console.error("usage: node chat.mjs BASE_URL   (e.g. http://127.0.0.1:8080/)");
  process.exit(2);
}

function log(...args) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...args);
}

// step runs fn, turning a timeout or failure into an error that says which step it was.
async function step(what, fn) {
  log(what);
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${err.message.split("\n")[0]}`, { cause: err });
  }
}

let browser;
const consoleLines = [];

async function openPage(label, name) {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  // Lets the test drop the page's WebSocket and hold its redials: while __hold is set, new WebSockets go
  // to a closed port and fail, as when the network is down.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.__hold = false;
    window.WebSocket = function (url, protocols) {
      const ws = new Native(window.__hold ? "ws://127.0.0.1:9/" : url, protocols);
      window.__sockets.push(ws);
      return ws;
    };
    window.WebSocket.prototype = Native.prototype;
    Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  });
  page.on("console", (m) => consoleLines.push(`${label} console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`${label} page error: ${e.message}`));
  page.on("requestfailed", (r) => consoleLines.push(`${label} request failed: ${r.url()} ${r.failure()?.errorText}`));
  const res = await page.goto(base, { waitUntil: "load" });
  if (!res || !res.ok()) throw new Error(`GET ${base}: status ${res ? res.status() : "none"}`);
  await page.fill("#name", name);
  await page.fill("#room", ROOM);
  return page;
}

async function joinRoom(page) {
  await page.click("#join");
  // The message box is enabled once the join was acknowledged.
  await page.waitForSelector("#message:not([disabled])");
  await page.waitForFunction(() => document.querySelector("#me")?.dataset.id);
  return page.$eval("#me", (el) => el.dataset.id);
}

async function logText(page) {
  return page.$eval("#log", (el) => el.innerText).catch(() => "(no log)");
}

async function run() {
  await step("launch chromium", async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout: STEP_MS,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      // Playwright gives the browser a fresh, empty profile in a temporary directory and removes it.
    });
  });

  const a = await step("page A: open", () => openPage("A", "ann"));
  const b = await step("page B: open", () => openPage("B", "bob"));
  try {
    const idA = await step("page A: join lobby", () => joinRoom(a));
    const idB = await step("page B: join lobby", () => joinRoom(b));
    log(`A is ${idA}, B is ${idB}`);

    await step("page A: sees B join", () =>
      a.waitForSelector(`#log li.joined[data-id="${cssEscape(idB)}"]`),
    );
    // B announces its name after joining; A's join line then names it.
    await step("page A: learns B's name", () =>
      a.waitForFunction(
        (id) => [...document.querySelectorAll("#log li.joined")].some((li) => li.dataset.id === id && li.innerText.includes("bob")),
        idB,
      ),
    );

    const text = `hello from ann ${Math.random().toString(36).slice(2, 10)}`;
    await step("page A: send a message", async () => {
      await a.fill("#message", text);
      await a.click("#send");
    });
    const arrived = (page) =>
      page.waitForFunction(
        ([from, text]) => [...document.querySelectorAll("#log li.said")].some((li) => li.dataset.from === from && li.innerText.includes(text)),
        [idA, text],
      );
    await step("page B: message arrives", () => arrived(b));
    await step("page A: message echoed", () => arrived(a));
    const line = await b.$eval(`#log li.said[data-from="${cssEscape(idA)}"]`, (li) => li.innerText);
    if (!line.includes("ann")) throw new Error(`B's log line does not name the sender: ${JSON.stringify(line)}`);
    log(`B's log: ${JSON.stringify(line)}`);

    await step("page A: connection drops", async () => {
      await a.evaluate(() => {
        window.__hold = true;
        const ws = window.__sockets.at(-1);
        window.__dropped = new Promise((r) => ws.addEventListener("close", r));
        ws.close(3000, "test: connection dropped");
      });
      await a.evaluate(() => window.__dropped);
    });
    const missed = [];
    for (let i = 0; i < 5; i++) {
      const t = `while ann was away ${i} ${Math.random().toString(36).slice(2, 8)}`;
      missed.push(t);
      await step(`page B: send message ${i} while A is away`, async () => {
        await b.fill("#message", t);
        await b.click("#send");
        await b.waitForFunction(
          ([from, text]) => [...document.querySelectorAll("#log li.said")].some((li) => li.dataset.from === from && li.innerText.includes(text)),
          [idB, t],
        );
      });
    }
    await step("page A: reconnects and is recovered", async () => {
      await a.evaluate(() => (window.__hold = false));
      await a.waitForFunction(() => [...document.querySelectorAll("#log li.info")].some((li) => li.innerText.includes("nothing was missed")), null, { timeout: 30_000 });
    });
    await step("page A: same id, the missed messages once each and in order", async () => {
      const id = await a.$eval("#me", (el) => el.dataset.id);
      if (id !== idA) throw new Error(`id after recovery ${id}, want ${idA}`);
      await a.waitForFunction(
        ([from, text]) => [...document.querySelectorAll("#log li.said")].some((li) => li.dataset.from === from && li.innerText.includes(text)),
        [idB, missed[missed.length - 1]],
      );
      const lines = await a.$$eval(`#log li.said[data-from="${cssEscape(idB)}"]`, (lis) => lis.map((li) => li.innerText));
      const seen = lines.flatMap((l) => missed.filter((t) => l.includes(t)));
      if (JSON.stringify(seen) !== JSON.stringify(missed)) throw new Error(`missed messages on A: ${JSON.stringify(seen)}`);
    });
    const after = `after recovery ${Math.random().toString(36).slice(2, 8)}`;
    await step("page A: still in the room (B's next message arrives)", async () => {
      await b.fill("#message", after);
      await b.click("#send");
      await a.waitForFunction(
        ([from, text]) => [...document.querySelectorAll("#log li.said")].some((li) => li.dataset.from === from && li.innerText.includes(text)),
        [idB, after],
      );
    });
  } catch (err) {
    console.error(`--- page A log ---\n${await logText(a)}\n--- page B log ---\n${await logText(b)}`);
    throw err;
  }
}

function cssEscape(s) {
  return String(s).replace(/["\\]/g, "\\$&");
}

const overall = setTimeout(() => {
  console.error(`FAIL: e2e chat did not finish within ${TOTAL_MS} ms`);
  if (consoleLines.length) console.error(consoleLines.join("\n"));
  process.exit(1);
}, TOTAL_MS);

let code = 0;
try {
  await run();
  log("PASS: two browsers chatted in #lobby, and a dropped one was recovered");
} catch (err) {
  code = 1;
  console.error(`FAIL: ${err.message}`);
  if (consoleLines.length) console.error("--- browser console ---\n" + consoleLines.join("\n"));
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(overall);
}
process.exit(code);
