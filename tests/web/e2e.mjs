// End-to-end test of the web dashboard (docs/dashboard.md) with Debian's Chromium driven by
// playwright-core. tests/api/test_dashboard.py starts vscd and runs this script:
//   VSC_BASE=https://127.0.0.1:PORT VSC_ADMIN_PW=... VSC_USER2=... VSC_USER2_PW=...
//   VSC_ARTIFACTS=build/artifacts/e2e node tests/web/e2e.mjs
// The fake VMs are unix sockets connected to the ports' BindPath; each echoes what it reads.
// Every step is bounded; a failure prints the step, saves a screenshot and exits 1.
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const BASE = process.env.VSC_BASE;
const ADMIN = ['admin', process.env.VSC_ADMIN_PW];
const USER2 = [process.env.VSC_USER2, process.env.VSC_USER2_PW];
const ART = resolve(process.env.VSC_ARTIFACTS || join(here, '..', '..', 'build', 'artifacts', 'e2e'));
const CHROMIUM = process.env.VSC_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 10000;
mkdirSync(ART, { recursive: true });
for (const f of readdirSync(ART)) if (f.endsWith('.png')) rmSync(join(ART, f)); // this run's only

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

// ---- Redfish as the hypervisor (Basic auth, from Node) -------------------------------------

const basic = 'Basic ' + Buffer.from(ADMIN.join(':')).toString('base64');
async function rf(method, path, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { Authorization: basic, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

class FakeVM {
  constructor(name) {
    this.name = name;
    this.uuid = randomUUID();
    this.got = '';
  }

  async start() {
    const res = await rf('POST', '/redfish/v1/Managers/bmc/Actions/Oem/Vsc.AllocatePorts',
      { VMUUID: this.uuid, VMName: this.name, PortCount: 1, Backend: 'unix' });
    this.port = res.Ports[0].Id;
    const path = res.Ports[0].BindPath;
    this.sock = await new Promise((ok, fail) => {
      const s = net.connect(path, () => ok(s));
      s.on('error', fail);
    });
    this.sock.on('error', () => {});
    this.sock.on('data', (d) => {
      this.got += d.toString('latin1');
      this.sock.write(d); // echo, as a terminal would
    });
    return this;
  }

  say(text) {
    this.sock.write(text);
  }

  async free() {
    await rf('POST', '/redfish/v1/Managers/bmc/Actions/Oem/Vsc.FreePorts', { VMUUID: this.uuid });
    this.sock.destroy();
  }
}

// ---- helpers -------------------------------------------------------------------------------

let current = 'setup';
const pages = [];
const cspViolations = [];

async function step(name, fn) {
  current = name;
  const s = Date.now();
  await fn();
  log(`ok   ${name} (${Date.now() - s} ms)`);
}

async function until(what, fn, ms = STEP_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tile = (page, host) => page.locator(`.tile[data-host="${host}"]`);
const tileText = (page, host) => tile(page, host).locator('.xterm-rows').innerText().catch(() => '');

async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await ctx.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (m) => {
    if (m.type() === 'error') log(`page console error: ${m.text()}`);
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => { log(`page error: ${e.message}`); cspViolations.push(`pageerror: ${e.message}`); });
  pages.push(page);
  return page;
}

async function login(page, [user, pw]) {
  await page.goto(BASE + '/');
  await page.locator('#login-user').fill(user);
  await page.locator('#login-password').fill(pw);
  await page.locator('#login-password').press('Enter');
  await page.locator('#app').waitFor({ state: 'visible' });
  // No token in the URL or in localStorage: sessionStorage only.
  const where = await page.evaluate(() => ({
    url: location.href, local: localStorage.length, session: sessionStorage.getItem('vsc.session'),
  }));
  if (where.url.includes('token') || where.local !== 0 || !where.session) throw new Error(`token storage: ${JSON.stringify(where)}`);
  return JSON.parse(where.session);
}

const shot = (page, name) => page.screenshot({ path: join(ART, `${name}.png`) });

// ---- the scenario --------------------------------------------------------------------------

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const alpha = await new FakeVM('alpha').start();
    const beta = await new FakeVM('beta').start();
    alpha.say('[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org)\r\n');
    beta.say('[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org)\r\n');
    beta.say('\r\nDebian GNU/Linux 12 beta ttyS0\r\n\r\nbeta login: ');
    let admin;
    let session;

    await step('the page is served and logs in with a Redfish session', async () => {
      admin = await newPage(browser);
      session = await login(admin, ADMIN);
      await admin.evaluate(() => { window.__noReload = 1; });
    });

    await step('two live tiles receive output', async () => {
      await tile(admin, 'alpha').waitFor();
      await tile(admin, 'beta').waitFor();
      // History replay: what beta printed before the page opened.
      await until('beta login prompt in its tile', async () => (await tileText(admin, 'beta')).includes('beta login:'));
      await until('beta Running', async () => (await tile(admin, 'beta').getAttribute('data-state')) === 'Running');
      alpha.say('hello from alpha\r\n');
      beta.say('\r\nhello from beta\r\n');
      await until('live output in alpha', async () => (await tileText(admin, 'alpha')).includes('hello from alpha'));
      await until('live output in beta', async () => (await tileText(admin, 'beta')).includes('hello from beta'));
      await shot(admin, '01-grid');
    });

    await step('Enter opens a console large; typing reaches the VM and its echo comes back', async () => {
      await tile(admin, 'alpha').focus();
      await admin.keyboard.press('Enter');
      await admin.locator('#large').waitFor({ state: 'visible' });
      await until('large view connected', async () => (await admin.locator('#large-term .xterm-rows').innerText()).includes('hello from alpha'));
      await admin.locator('#large-term .xterm-helper-textarea').focus();
      await admin.keyboard.type('typed-in-browser-42');
      await admin.keyboard.press('Enter');
      await until('the VM got the input', async () => alpha.got.includes('typed-in-browser-42\r'));
      await until('the echo in the large view', async () => (await admin.locator('#large-term .xterm-rows').innerText()).includes('typed-in-browser-42'));
      await until('the echo in the tile', async () => (await tileText(admin, 'alpha')).includes('typed-in-browser-42'));
      await shot(admin, '02-large');
    });

    let oper;
    await step('private mode: another user sees the port go dark, and a refusal', async () => {
      oper = await newPage(browser);
      await login(oper, USER2);
      await tile(oper, 'alpha').waitFor();
      await until('oper sees alpha output', async () => (await tileText(oper, 'alpha')).includes('hello from alpha'));
      await admin.locator('#act-private').click();
      await until('admin sees private', async () => (await admin.locator('#large-mode').innerText()).includes('private to admin'));
      await until('oper: alpha tile dark', async () => (await tile(oper, 'alpha').getAttribute('class')).includes('dark'));
      await tile(oper, 'alpha').locator('.tile-dark').waitFor({ state: 'visible' });
      const dark = await tile(oper, 'alpha').locator('.tile-dark').innerText();
      if (!dark.includes('Private to admin')) throw new Error(`dark text: ${dark}`);
      alpha.say('secret-output-7\r\n');
      await until('admin sees private output', async () => (await admin.locator('#large-term .xterm-rows').innerText()).includes('secret-output-7'));
      await new Promise((r) => setTimeout(r, 300));
      if ((await tileText(oper, 'alpha')).includes('secret-output-7')) throw new Error('private output reached another user');
      // The operator opens it and tries to type: refused, and told so.
      await tile(oper, 'alpha').locator('.host').click();
      await oper.locator('#large').waitFor({ state: 'visible' });
      if (!(await oper.locator('#act-private').isDisabled())) throw new Error('Operator may not take private');
      await oper.locator('#large-term .xterm-helper-textarea').focus();
      await oper.keyboard.type('x');
      await until('a refusal notice', async () => (await oper.locator('#large-notice').innerText()).includes('private'));
      await shot(oper, '03-private-seen-by-operator');
      await oper.keyboard.press('Shift+Escape');
      await oper.locator('#large').waitFor({ state: 'hidden' });
      await admin.locator('#act-free').click();
      await until('oper: alpha back to free use', async () => !(await tile(oper, 'alpha').getAttribute('class')).includes('dark'));
    });

    await step('Escape closes the large view and gives focus back to the tile', async () => {
      await admin.locator('#large-close').focus();
      await admin.keyboard.press('Escape');
      await admin.locator('#large').waitFor({ state: 'hidden' });
      const focused = await admin.evaluate(() => document.activeElement?.dataset?.host);
      if (focused !== 'alpha') throw new Error(`focus on ${focused}`);
    });

    let panicMs;
    await step('a panic line turns the tile red and raises the banner', async () => {
      const s = Date.now();
      beta.say('\r\n[   42.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\r\n');
      await until('beta Panic', async () => (await tile(admin, 'beta').getAttribute('data-state')) === 'Panic');
      panicMs = Date.now() - s;
      await admin.locator('#panic-banner').waitFor({ state: 'visible' });
      const banner = await admin.locator('#panic-banner').innerText();
      if (!banner.includes('beta')) throw new Error(`banner: ${banner}`);
      const color = await tile(admin, 'beta').evaluate((el) => getComputedStyle(el).borderTopColor);
      if (color !== 'rgb(255, 77, 79)') throw new Error(`panic tile border ${color}`);
      await until('oper sees the panic too', async () => (await tile(oper, 'beta').getAttribute('data-state')) === 'Panic');
      log(`panic line -> red tile: ${panicMs} ms`);
      await shot(admin, '04-panic');
    });

    await step('observe-only by the Operator; the Administrator is refused, then forces', async () => {
      await tile(oper, 'beta').locator('.host').click();
      await oper.locator('#large').waitFor({ state: 'visible' });
      await oper.locator('#act-observe').click();
      await until('observe-only by the operator', async () => (await tile(admin, 'beta').getAttribute('data-mode')) === 'ObserveOnly');
      await tile(admin, 'beta').focus();
      await admin.keyboard.press('Enter');
      await admin.locator('#large').waitFor({ state: 'visible' });
      await until('mode shown', async () => (await admin.locator('#large-mode').innerText()).includes('observe-only by'));
      await admin.locator('#act-private').click();
      await until('a refusal asking for force', async () => (await admin.locator('#large-notice').innerText()).includes('force'));
      await shot(admin, '05-refused-without-force');
      await admin.locator('#act-force').check();
      await admin.locator('#act-private').click();
      await until('admin took it over', async () => (await admin.locator('#large-mode').innerText()).includes('private to admin'));
      await until('the operator is told', async () => (await oper.locator('#large-mode').innerText()).includes('private to admin')
        && (await oper.locator('#large-notice').innerText()).includes('admin') && await oper.locator('#large-dark').isVisible());
      await shot(oper, '05-forced-private-seen-by-operator');
      await until('oper: beta tile dark', async () => (await tile(oper, 'beta').getAttribute('class')).includes('dark'));
      await until('oper: the tile says why', async () => (await tile(oper, 'beta').locator('.tile-notice').innerText()).includes('private'));
      // From private to observe-only: output flows again, and the tile no longer says hidden.
      await admin.locator('#act-observe').click();
      await until('oper: beta observe-only', async () => (await tile(oper, 'beta').getAttribute('data-mode')) === 'ObserveOnly');
      await until('oper: no stale private notice on the tile', async () => !(await tile(oper, 'beta').locator('.tile-notice').innerText()).includes('private'));
      await admin.locator('#act-free').click();
      await until('free again', async () => (await tile(oper, 'beta').getAttribute('data-mode')) === 'Free');
      await oper.locator('#large-close').click();
    });

    await step('the transcript link downloads the console history', async () => {
      const [dl] = await Promise.all([admin.waitForEvent('download'), admin.locator('#large-transcript').click()]);
      const text = readFileSync(await dl.path(), 'latin1');
      if (!text.includes('beta login:') || !text.includes('Kernel panic - not syncing')) throw new Error(`transcript: ${text.slice(-300)}`);
      await admin.locator('#large-close').click();
    });

    let gamma;
    await step('a new VM appears and a freed one disappears without a reload', async () => {
      gamma = await new FakeVM('gamma').start();
      await tile(admin, 'gamma').waitFor();
      await tile(oper, 'gamma').waitFor();
      gamma.say('gamma says hi\r\n');
      await until('gamma live', async () => (await tileText(admin, 'gamma')).includes('gamma says hi'));
      await alpha.free();
      await tile(admin, 'alpha').waitFor({ state: 'detached' });
      await tile(oper, 'alpha').waitFor({ state: 'detached' });
      if ((await admin.evaluate(() => window.__noReload)) !== 1) throw new Error('the page reloaded');
      await shot(admin, '06-gamma-in-alpha-gone');
    });

    await step('filter by host name and by state', async () => {
      await admin.locator('#filter-text').fill('gam');
      await until('only gamma', async () => (await admin.locator('.tile:visible').count()) === 1 && await tile(admin, 'gamma').isVisible());
      await admin.locator('#filter-text').fill('');
      await admin.locator('#filter-state').selectOption('Panic');
      await until('only beta', async () => (await admin.locator('.tile:visible').count()) === 1 && await tile(admin, 'beta').isVisible());
      await admin.locator('#filter-state').selectOption('');
      await until('all back', async () => (await admin.locator('.tile:visible').count()) === 2);
    });

    await step('broadcast input to the selected consoles (SendInput)', async () => {
      await tile(admin, 'beta').locator('.select').check();
      await tile(admin, 'gamma').locator('.select').check();
      await admin.locator('#broadcast-text').fill('uptime-all');
      await admin.locator('#broadcast-send').click();
      await until('both VMs got it', async () => beta.got.includes('uptime-all\r') && gamma.got.includes('uptime-all\r'));
      await until('the result', async () => (await admin.locator('#broadcast-result').innerText()).includes('sent to 2'));
      await shot(admin, '07-broadcast');
    });

    await step('an access rule that takes Watch away closes the console, and says so', async () => {
      await rf('POST', `/redfish/v1/Managers/bmc/SerialInterfaces/${gamma.port}/Oem/Vsc/AccessRules`,
        { UserName: USER2[0], Right: 'Watch', Effect: 'Deny' });
      // The close (1008 'access revoked') and the rule's ResourceChanged (rights re-read:
      // 'may not watch') race; whichever the page heard last is what the tile says.
      await until('the operator is told', async () => /access revoked|may not watch/.test(await tile(oper, 'gamma').locator('.tile-notice').innerText()));
      if (await tile(admin, 'gamma').locator('.tile-notice').innerText()) throw new Error('the admin was told too');
    });

    await step('a console the user may not watch opens large with the reason, not a retrying socket', async () => {
      const reason = async () => oper.locator('#large-notice').innerText();
      // Its rights as the page read them still say Watch: the refused socket re-reads them.
      await tile(oper, 'gamma').locator('.host').click();
      await oper.locator('#large').waitFor({ state: 'visible' });
      await until('the reason (rights read again)', async () => (await reason()).includes('may not watch'));
      await oper.locator('#large-close').click();
      // Read afresh: the page knows before it connects.
      await oper.reload();
      await until('the tile says so', async () => (await tile(oper, 'gamma').locator('.tile-notice').innerText()).includes('may not watch'));
      await tile(oper, 'gamma').locator('.host').click();
      await oper.locator('#large').waitFor({ state: 'visible' });
      await until('the reason', async () => (await reason()).includes('may not watch'));
      await new Promise((r) => setTimeout(r, 3500)); // past a reconnection's delay
      if (!(await reason()).includes('may not watch')) throw new Error(`large notice: ${await reason()}`);
      await oper.locator('#large-close').click();
    });

    await step('who is attached stays right after the large view closes', async () => {
      const attached = async () => tile(admin, 'beta').locator('.attached').innerText();
      await oper.locator('#logout').click();
      await oper.locator('#login').waitFor({ state: 'visible' });
      await until('the operator gone from beta', async () => !(await attached()).includes(USER2[0]));
      // The large view is a second connection: both hear who comes and goes.
      await tile(admin, 'beta').locator('.host').click();
      await admin.locator('#large').waitFor({ state: 'visible' });
      await login(oper, USER2);
      await until('the operator attached to beta', async () => (await attached()).includes(USER2[0]));
      await admin.locator('#large-close').click();
      await oper.locator('#logout').click();
      await oper.locator('#login').waitFor({ state: 'visible' });
      await until('the operator shown gone after logging out', async () => !(await attached()).includes(USER2[0]));
    });

    await step('a console that drops reconnects without losing or repeating output', async () => {
      const page = await newPage(browser);
      // Keep the page's WebSockets at hand, to drop one as a network failure would.
      await page.addInitScript(() => {
        const Ws = window.WebSocket;
        window.__sockets = [];
        window.WebSocket = class extends Ws {
          constructor(...args) {
            super(...args);
            window.__sockets.push(this);
          }
        };
      });
      await login(page, ADMIN);
      beta.say('\r\nbefore-the-drop-1\r\n');
      await until('beta live', async () => (await tileText(page, 'beta')).includes('before-the-drop-1'));
      const dropped = await page.evaluate((port) => {
        const open = window.__sockets.filter((w) => w.readyState === 1 && w.url.includes(`/SerialInterfaces/${port}/`));
        for (const w of open) w.close(4000);
        return open.length;
      }, beta.port);
      if (dropped !== 1) throw new Error(`${dropped} sockets on beta`);
      beta.say('said-while-away-2\r\n');
      await until('what beta said while the console was away', async () => (await tileText(page, 'beta')).includes('said-while-away-2'));
      const text = await tileText(page, 'beta');
      if (text.split('before-the-drop-1').length !== 2) throw new Error(`output repeated: ${text}`);
      await until('the tile no longer says closed', async () => !(await tile(page, 'beta').locator('.tile-notice').innerText()));
      await page.locator('#logout').click();
      await page.locator('#login').waitFor({ state: 'visible' });
    });

    await step('a phone-width page shows one column', async () => {
      const phone = await newPage(browser, { width: 390, height: 844 });
      await login(phone, ADMIN);
      await tile(phone, 'beta').waitFor();
      await tile(phone, 'gamma').waitFor();
      const boxes = await phone.locator('.tile').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().x));
      if (new Set(boxes.map(Math.round)).size !== 1) throw new Error(`tiles side by side: ${boxes}`);
      const wide = await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      if (!wide) throw new Error('horizontal scrolling at phone width');
      await shot(phone, '08-phone');
      await phone.locator('#logout').click();
      await phone.locator('#login').waitFor({ state: 'visible' });
    });

    await step('logout deletes the session', async () => {
      await admin.locator('#logout').click();
      await admin.locator('#login').waitFor({ state: 'visible' });
      const left = await admin.evaluate(() => sessionStorage.getItem('vsc.session'));
      if (left) throw new Error('token left in sessionStorage');
      const r = await fetch(BASE + session.uri, { headers: { Authorization: basic } });
      if (r.status !== 404) throw new Error(`session still there: ${r.status}`);
      if (await admin.locator('.tile').count()) throw new Error('tiles left after logout');
      await shot(admin, '09-logged-out');
    });

    await step('an open dashboard keeps its session under the shortest SessionTimeout', async () => {
      await rf('PATCH', '/redfish/v1/SessionService', { SessionTimeout: 30 });
      try {
        const page = await newPage(browser);
        const s = await login(page, ADMIN);
        await tile(page, 'beta').waitFor();
        await new Promise((r) => setTimeout(r, 40000)); // idle: past the timeout and a sweep
        const r = await fetch(BASE + s.uri, { headers: { Authorization: basic } });
        if (r.status !== 200) throw new Error(`the session ended while the dashboard was open: ${r.status}`);
        if (!(await page.locator('#app').isVisible())) throw new Error('back at the login form');
        await page.locator('#logout').click();
        await page.locator('#login').waitFor({ state: 'visible' });
      } finally {
        await rf('PATCH', '/redfish/v1/SessionService', { SessionTimeout: 1800 });
      }
    });

    await step('no Content-Security-Policy violation and no page error', async () => {
      if (cspViolations.length) throw new Error(cspViolations.join('\n'));
    });
    await gamma.free();
    await beta.free();
    log(`all steps passed; screenshots in ${ART}`);
  } finally {
    await browser.close();
  }
}

const watchdog = setTimeout(() => {
  console.error(`e2e: overall time limit reached during: ${current}`);
  process.exit(1);
}, 150000);

main().then(() => {
  clearTimeout(watchdog);
  process.exit(0);
}, async (e) => {
  console.error(`FAIL ${current}: ${e.stack || e}`);
  for (const [i, p] of pages.entries()) await p.screenshot({ path: join(ART, `failure-${i}.png`) }).catch(() => {});
  process.exit(1);
});
