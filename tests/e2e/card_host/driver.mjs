// Drives the approval card in headless Chromium through the test host (host.js, bundled here with esbuild),
// playing the model's calls and the person's clicks; prints what it saw as JSON for the pytest to check.
import http from "node:http";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const [mcpUrl, sandboxUrl, apiToken, imagesDir, scratchDir] = process.argv.slice(2);
const XSS = '<img src=x onerror="window.parent.__pwned=1;document.title=\'pwned\'">';

const bundle = (await build({
  entryPoints: [new URL("./host.js", import.meta.url).pathname], bundle: true, write: false, format: "esm",
  platform: "browser", logLevel: "silent",
})).outputFiles[0].text;

// Same origin for the page and /mcp: a small proxy to the server.
const target = new URL(mcpUrl);
const server = http.createServer((req, res) => {
  if (req.url === "/") {
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><html><head><meta charset="utf-8"><title>host</title></head><body></body>' +
      '<script type="module" src="/host.js"></script></html>');
  } else if (req.url === "/host.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    res.end(bundle);
  } else if (req.url.startsWith("/mcp")) {
    const headers = { ...req.headers, host: target.host };
    delete headers.origin;
    const upstream = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers },
      (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); });
    upstream.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(upstream);
  } else { res.writeHead(404); res.end(); }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = { external: [], scenarios: {} };
try {
  const context = await browser.newContext({ viewport: { width: 640, height: 900 } });
  const page = await context.newPage();
  page.on("request", (r) => { const u = r.url(); if (!u.startsWith(origin) && !u.startsWith("data:") && u !== "about:srcdoc") seen.external.push(u); });
  page.on("dialog", (d) => { seen.dialog = true; d.dismiss(); });
  await page.goto(origin + "/");
  await page.waitForFunction(() => window.host !== undefined);
  await page.evaluate(() => window.host.start());
  seen.modelTools = await page.evaluate(() => window.host.modelToolNames());
  seen.allTools = await page.evaluate(() => window.host.allToolNames());
  seen.toolsWithoutApps = await page.evaluate(() => window.host.toolNamesWithoutApps());
  const create = (data) => page.evaluate((d) => window.host.callAsModel("services_create", { data: d }), data);
  await create({ name: "shop-web", deployment: "hello-world", port: 8080, labels: { team: "shop" } });
  await create({ name: "shop-api", deployment: "hello-world", version: "v1", port: 8080, labels: { team: "shop" } });
  await create({ name: "legacy-api", deployment: "hello-world", version: "v2", port: 9000, description: "Old endpoint, kept for the mobile app", labels: { team: "core" } });
  await create({ name: "notes", deployment: "hello-world", port: 8080, description: XSS });

  const card = page.frameLocator("#card");
  const frame = () => page.frames().find((f) => f.parentFrame() !== null);
  async function show(name, args, options = {}) {
    await page.evaluate(([n, a, o]) => window.host.show(n, a, o), [name, args, options]);
    await card.locator("button").first().waitFor({ timeout: 20000 });
    return await card.locator("#card").innerText();
  }
  // After a click the card shows the outcome (role=status) or, after a change meanwhile, the refusal (role=alert).
  async function click(label, waitText) {
    await card.getByRole("button", { name: label, exact: true }).click();
    await card.locator("#card").filter({ hasText: waitText }).locator("[role=status], [role=alert]").first()
      .waitFor({ timeout: 20000 });
    return await card.locator("#card").innerText();
  }
  const scenario = async (name, fn) => { seen.scenarios[name] = await fn(); };

  await scenario("update", async () => {
    const shown = await show("services_update", { service_names: ["shop-web", "shop-api"], data: { port: 9090 } });
    await page.locator("#card").screenshot({ path: `${imagesDir}/approval-card-update.png` });
    const keyboard = await page.evaluate(() => {
      const doc = document.querySelector("#card").contentDocument;
      return doc === null;  // the host cannot reach into the sandboxed card: only events it sends
    });
    await card.getByRole("button", { name: "Apply", exact: true }).focus();
    const focused = await card.locator(":focus").innerText();
    await page.keyboard.press("Enter");
    await card.locator("#card [role=status]").waitFor({ timeout: 20000 });
    return { shown, focused, keyboard, after: await card.locator("#card").innerText() };
  });
  await scenario("delete", async () => {
    const shown = await show("services_delete", { service_name: "legacy-api" });
    await page.locator("#card").screenshot({ path: `${imagesDir}/approval-card-delete.png` });
    return { shown, after: await click("Apply: delete", "Deleted") };
  });
  await scenario("decline", async () => {
    const shown = await show("services_update", { service_name: "shop-web", data: { port: 7070, version: "v2" } });
    const after = await click("Decline", "declined");
    return { shown, after, modelContext: await page.evaluate(() => window.host.modelContext.at(-1)) };
  });
  await scenario("stale", async () => {
    const shown = await show("services_update", { service_name: "shop-api", labels_set: { tier: "gold" } });
    const colleague = await fetch(`${sandboxUrl}/projects/demo/services/shop-api`, {
      method: "PATCH", headers: { authorization: `Token ${apiToken}`, "content-type": "application/json", "x-colleague": "1" },
      body: JSON.stringify({ description: "changed by a colleague" }),
    });
    const refused = await click("Apply", "Changed by someone else");
    const after = await click("Decline", "declined");
    return { shown, colleague: colleague.status, refused, after };
  });
  await scenario("xss", async () => {
    const shown = await show("services_delete", { service_name: "notes" });
    const images = await frame().locator("img").count();
    const after = await click("Decline", "declined");
    const pwned = await page.evaluate(() => window.__pwned === 1 || document.title === "pwned");
    return { shown, images, pwned, after };
  });
  await scenario("dark", async () => {
    const shown = await show("services_update", { service_name: "shop-web", data: { port: 6060, description: "zero\u200bwidth" } }, { theme: "dark", width: 320 });
    await page.locator("#card").screenshot({ path: `${scratchDir}/approval-card-dark-narrow.png` });
    await click("Decline", "declined");
    return { shown };
  });
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
}
// The page's MCP connections keep the proxy's sockets open: exit once the answer is written.
process.stdout.write(JSON.stringify(seen), () => process.exit(0));
