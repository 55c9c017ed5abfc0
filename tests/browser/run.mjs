// Real-client tests, driven in headless Chromium with playwright-core:
// Microsoft's Web Chat (with WebSocket, then polling) and turnbox's own chat
// page, against a running turnbox host whose default bot is the echo bot;
// with LLM_BOT set, also a livestreamed answer of that bot in Web Chat; with
// UPLOAD_BOT set, files sent with Web Chat's attachment button to that bot
// (the misbehave test bot, which lists the attachments it receives).
//
//   [LLM_BOT=llm LLM_QUESTION=… LLM_ANSWER=…] [UPLOAD_BOT=files] node run.mjs http://127.0.0.1:PORT OUT_DIR
//
// Screenshots go to OUT_DIR. Prints "N passed, M failed" and exits non-zero
// on any failure.
import http from 'node:http';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
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
    const bot = params.get('bot');
    const domain = ${JSON.stringify(host)} + (bot ? '/bots/' + bot : '') + '/v3/directline';
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

// A livestreamed answer (Web Chat 4.17+ over the WebSocket): the bot's
// bubble is rendered with the text growing before the final text.
const { LLM_BOT: llmBot, LLM_QUESTION: question, LLM_ANSWER: answer } = process.env;
if (llmBot) {
  await check('webchat-livestream', async (tab) => {
    await tab.goto(`${pageUrl}?ws=1&bot=${llmBot}`);
    const box = tab.locator('[data-id="webchat-sendbox-input"], input[aria-label*="Message"], textarea').first();
    await box.waitFor({ timeout: 20000 });
    // Every distinct text of the newest bubble that starts like the answer.
    await tab.evaluate((start) => {
      window.renders = [];
      const record = () => {
        const texts = [...document.querySelectorAll('.webchat__bubble__content')]
          .map((e) => e.innerText.trim()).filter((t) => t.startsWith(start));
        const last = texts.at(-1);
        if (last && window.renders.at(-1) !== last) window.renders.push(last);
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, answer.slice(0, 8));
    await box.fill(question);
    await box.press('Enter');
    await tab.waitForFunction((end) => window.renders.some((t) => t.endsWith(end)), answer.slice(-10), { timeout: 30000 });
    const renders = await tab.evaluate(() => window.renders);
    const final = renders.find((t) => t.endsWith(answer.slice(-10)));
    const partials = renders.slice(0, renders.indexOf(final)).filter((t) => final.startsWith(t) && t !== final);
    console.log(`livestream renders: ${JSON.stringify(renders)}`);
    if (new Set(partials).size < 2) throw new Error(`fewer than 2 partial renders before the final: ${JSON.stringify(renders)}`);
    // One bubble, replaced in place: the updates were one stream.
    const bubbles = await tab.locator('.webchat__bubble__content', { hasText: answer.slice(0, 8) }).count();
    if (bubbles !== 1) throw new Error(`${bubbles} bubbles for one streamed answer`);
  });
}

// Web Chat's attachment button (Direct Line's /upload): the files are set
// on its file input as a user picking them would (Playwright sets paths
// with CDP's DOM.setFileInputFiles); the bot answers with what it got, and
// the files' links (signed URLs, no token) read them back.
const { UPLOAD_BOT: uploadBot } = process.env;
if (uploadBot) {
  await check('webchat-upload', async (tab) => {
    const text = path.resolve(out, 'hello.txt');
    const image = path.resolve(out, 'dot.png');
    await writeFile(text, 'hello from the browser\n');
    await writeFile(image, Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'));
    await tab.goto(`${pageUrl}?ws=1&bot=${uploadBot}`);
    const box = tab.locator('[data-id="webchat-sendbox-input"], input[aria-label*="Message"], textarea').first();
    await box.waitFor({ timeout: 20000 });
    const input = tab.locator('input[type="file"]').first();
    // Web Chat 4.18 holds picked files in the send box until sent, once it
    // has read them: press Enter until the upload goes out.
    let sent = false;
    const upload = tab.waitForResponse((r) => r.url().includes('/upload?'), { timeout: 20000 })
      .then((r) => { sent = true; return r; });
    await input.setInputFiles([text, image]);
    for (let i = 0; i < 40 && !sent; i += 1) {
      await box.press('Enter');
      await tab.waitForTimeout(250);
    }
    const answer = await upload;
    if (answer.status() !== 200) throw new Error(`the upload answered ${answer.status()}`);
    // DirectLineJS appends the files as their blobs are read: either order.
    await tab.getByText(/received 2 attachment\(s\): (hello\.txt \(text\/plain\), dot\.png \(image\/png\)|dot\.png \(image\/png\), hello\.txt \(text\/plain\))/)
      .first().waitFor({ timeout: 20000 });
    // The user's files are links to this host's signed URLs, which open
    // with no token (as a click on the link does).
    const links = tab.locator('a[href*="/attachments/"]');
    await links.first().waitFor({ timeout: 20000 });
    const hrefs = await links.evaluateAll((as) => as.map((a) => a.href));
    const signed = hrefs.find((h) => h.startsWith(host) && h.includes("sig="));
    if (!signed) throw new Error(`no signed link to the host: ${JSON.stringify(hrefs)}`);
    const sizes = await tab.evaluate(async (urls) => Promise.all(urls.map(async (url) => {
      const response = await fetch(url);
      return response.ok ? (await response.arrayBuffer()).byteLength : -response.status;
    })), hrefs);
    if (!sizes.includes(70) || !sizes.includes(23)) throw new Error(`the linked files read back as ${sizes} bytes`);
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
