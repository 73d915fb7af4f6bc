// chat.mjs drives the chat demo page in two real headless Chromium pages against a running roomio node:
// both join room "lobby", page A sees B join, A sends a message, and it appears in both logs.
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
  log("PASS: two browsers chatted in #lobby");
} catch (err) {
  code = 1;
  console.error(`FAIL: ${err.message}`);
  if (consoleLines.length) console.error("--- browser console ---\n" + consoleLines.join("\n"));
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(overall);
}
process.exit(code);
