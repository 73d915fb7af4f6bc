// arena.mjs plays the arena example (examples/arena) in two real headless Chromium pages: both join arena
// "e2e", each sees the other in the state the room sends 20 times a second, page A holds the right arrow
// key and page B sees A's dot move right; a third page with A's name is refused.
//
//   node e2e/arena.mjs http://127.0.0.1:PORT/
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM) through playwright-core, which never downloads a
// browser. Exit status 0 means the scenario passed; otherwise the reason is printed on stderr.
import { chromium } from "playwright-core";

const STEP_MS = 15_000;
const TOTAL_MS = Number(process.env.ROOMIO_E2E_TIMEOUT_MS) || 60_000;

const base = process.argv[2];
if (!base) {
  console.error("usage: node arena.mjs BASE_URL");
  process.exit(2);
}
const log = (...args) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...args);

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

async function open(label, name) {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("console", (m) => consoleLines.push(`${label} console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`${label} page error: ${e.message}`));
  const res = await page.goto(base, { waitUntil: "load" });
  if (!res || !res.ok()) throw new Error(`GET ${base}: status ${res ? res.status() : "none"}`);
  await page.fill("#name", name);
  await page.fill("#arena", "e2e");
  await page.click("#join");
  return page;
}

// x of the player called name in the page's latest state (from the players list's data attributes).
const xOf = (page, name) =>
  page.$eval(`#players li[data-name="${name}"]`, (li) => Number(li.dataset.x)).catch(() => NaN);

async function run() {
  browser = await step("launch chromium", () =>
    chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout: STEP_MS,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    }),
  );
  const a = await step("page A: open and join as ann", () => open("A", "ann"));
  await step("page A: joined", () => a.waitForSelector('body[data-joined="arena:e2e"]'));
  const b = await step("page B: open and join as bob", () => open("B", "bob"));
  await step("page B: joined", () => b.waitForSelector('body[data-joined="arena:e2e"]'));
  for (const [page, label] of [[a, "A"], [b, "B"]]) {
    await step(`page ${label}: sees both players`, () =>
      page.waitForFunction(() => document.querySelectorAll("#players li").length === 2),
    );
  }
  // The state keeps coming: the tick counter grows.
  const t0 = Number(await b.$eval("canvas", (c) => c.dataset.tick));
  await step("page B: ticks go on", () => b.waitForFunction((t) => Number(document.querySelector("canvas").dataset.tick) > t + 5, t0));

  const x0 = await xOf(b, "ann");
  await step("page A: hold the right arrow", async () => {
    await a.focus("canvas");
    await a.keyboard.down("ArrowRight");
  });
  await step("page B: sees ann move right", () =>
    b.waitForFunction(
      ([x0]) => {
        const li = document.querySelector('#players li[data-name="ann"]');
        return li && (Number(li.dataset.x) > x0 + 30 || Number(li.dataset.x) >= 467);
      },
      [x0],
    ),
  );
  await a.keyboard.up("ArrowRight");
  log(`ann moved from x=${x0} to x=${await xOf(b, "ann")} as page B saw it`);

  const c = await step("page C: open and join as ann again", () => open("C", "ann"));
  await step("page C: refused, name taken", () => c.waitForFunction(() => /taken/.test(document.querySelector("#status").textContent)));
}

const overall = setTimeout(() => {
  console.error(`FAIL: e2e arena did not finish within ${TOTAL_MS} ms`);
  if (consoleLines.length) console.error(consoleLines.join("\n"));
  process.exit(1);
}, TOTAL_MS);

let code = 0;
try {
  await run();
  log("PASS: two browsers played in arena:e2e");
} catch (err) {
  code = 1;
  console.error(`FAIL: ${err.message}`);
  if (consoleLines.length) console.error("--- browser console ---\n" + consoleLines.join("\n"));
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(overall);
}
process.exit(code);
