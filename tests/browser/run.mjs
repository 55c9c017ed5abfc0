// Real-client tests, driven in headless Chromium with playwright-core:
// Microsoft's Web Chat (with WebSocket, then polling) and turnbox's own chat
// page, against a running turnbox host whose default bot is the echo bot.
//
//   node run.mjs http://127.0.0.1:PORT OUT_DIR
//
// Screenshots go to OUT_DIR. Prints "N passed, M failed" and exits non-zero
// on any failure.
import http from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [host, out = 'browser-artifacts'] = process.argv.slice(2);
if (!host) {
  console.error('usage: node run.mjs HOST_URL [OUT_DIR]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
await mkdir(out, { recursive: true });

// The test page: Web Chat's own bundle from node_modules, pointed at turnbox.
const page = `<!doctype html><html><head><meta charset="utf-8"><title>Web Chat on turnbox</title>
<script src="/webchat.js"></script></head><body style="margin:0">
<div id="webchat" style="height:100vh"></div>
<script>
  (async () => {
    const params = new URLSearchParams(location.search);
    const domain = ${JSON.stringify(host)} + '/v3/directline';
    const generated = await (await fetch(domain + '/tokens/generate', { method: 'POST' })).json();
    const directLine = window.WebChat.createDirectLine({ domain, token: generated.token, webSocket: params.get('ws') === '1' });
    window.WebChat.renderWebChat({ directLine }, document.getElementById('webchat'));
  })().catch((e) => { document.body.textContent = 'failed: ' + e; });
</script></body></html>`;

const server = http.createServer(async (request, response) => {
  if (request.url.startsWith('/webchat.js')) {
    const bundle = await readFile(path.join(here, 'node_modules/botframework-webchat/dist/webchat.js'));
    response.writeHead(200, { 'content-type': 'text/javascript' });
    response.end(bundle);
  } else {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(page);
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let passed = 0;
let failed = 0;
async function check(name, run) {
  const tab = await browser.newPage();
  try {
    await run(tab);
    passed += 1;
    console.log(`ok: ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAILED: ${name}: ${e.message}`);
  } finally {
    await tab.screenshot({ path: path.join(out, `${name}.png`), fullPage: true }).catch(() => {});
    await tab.close();
  }
}

for (const [name, ws] of [['webchat-websocket', '1'], ['webchat-polling', '0']]) {
  await check(name, async (tab) => {
    await tab.goto(`${pageUrl}?ws=${ws}`);
    const box = tab.locator('[data-id="webchat-sendbox-input"], input[aria-label*="Message"], textarea').first();
    await box.waitFor({ timeout: 20000 });
    await box.fill('hello');
    await box.press('Enter');
    await tab.getByText('Echo: hello').first().waitFor({ timeout: 20000 });
  });
}

await check('turnbox-chat-page', async (tab) => {
  await tab.goto(`${host}/chat/echo`);
  await tab.waitForSelector('#text:not([disabled])', { timeout: 20000 });
  await tab.fill('#text', 'card');
  await tab.press('#text', 'Enter');
  await tab.waitForSelector('.card h3', { timeout: 20000 });
  await tab.click('button:has-text("Red")');
  await tab.getByText('Echo: red').first().waitFor({ timeout: 20000 });
});

await browser.close();
server.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
