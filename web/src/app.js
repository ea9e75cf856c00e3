// vsc dashboard (docs/dashboard.md): every VM console live in a grid, driven by the Redfish
// API of the same service. Log in with a Redfish session (token kept in sessionStorage, this
// tab only); consoles are WebSockets (token as the `vsc.token.<t>` subprotocol, never in a
// URL); new and freed VMs, modes and console states arrive over the SSE event stream,
// read with fetch() so that the token travels in the X-Auth-Token header.
import '@xterm/xterm/css/xterm.css';
import './app.css';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

const $ = (id) => document.getElementById(id);
const PORTS = '/redfish/v1/Managers/bmc/SerialInterfaces';
const SSE = '/redfish/v1/EventService/SSE';
const SESSION_SERVICE = '/redfish/v1/SessionService';
const SEND_INPUT = '/redfish/v1/Managers/bmc/Actions/Oem/Vsc.SendInput';
const LARGE_HISTORY = 262144; // bytes of scrollback replayed when a console opens large
const TILE_HISTORY = 4096;
const PING_MS = 60000;
const NO_WATCH = 'you may not watch this console (access rules)';

let auth = null; // {token, uri, user, roles}
const ports = new Map(); // port id -> Port
const systems = new Map(); // system URI -> {name, state, health, line}
let sse = null; // {abort: AbortController}
let large = null; // the port open large
let keepAlive = null;

// ---- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const info = body?.error?.['@Message.ExtendedInfo']?.[0];
    super(info?.Message || body?.error?.message || `HTTP ${status}`);
    this.status = status;
  }
}

// Every call sends the token as a header; credentials 'omit' keeps the browser from ever
// prompting for Basic credentials on a 401.
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (auth) headers['X-Auth-Token'] = auth.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, credentials: 'omit', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (r.status === 401 && auth && path !== auth.uri) {
    sessionEnded('Your session ended; log in again.');
  }
  if (!r.ok) throw new ApiError(r.status, json);
  return { status: r.status, headers: r.headers, json };
}

const odataId = (v) => (typeof v === 'string' ? v : v?.['@odata.id']) || '';

// ---- login and logout ----------------------------------------------------------------------

async function login(user, password) {
  const r = await fetch('/redfish/v1/SessionService/Sessions', {
    method: 'POST', credentials: 'omit', cache: 'no-store',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ UserName: user, Password: password }),
  });
  const json = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, json);
  auth = {
    token: r.headers.get('X-Auth-Token'),
    uri: r.headers.get('Location') || json['@odata.id'],
    user: json.UserName || user,
    roles: json.Roles || [],
  };
  sessionStorage.setItem('vsc.session', JSON.stringify(auth));
}

async function logout() {
  const a = auth;
  if (a) {
    try { await api('DELETE', a.uri); } catch { /* gone already */ }
  }
  sessionEnded('');
}

function sessionEnded(message) {
  auth = null;
  sessionStorage.removeItem('vsc.session');
  stopEverything();
  showLogin(message);
}

function showLogin(message) {
  $('app').hidden = true;
  $('large').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-password').value = '';
  $('login-user').focus();
}

async function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = `${auth.user}${auth.roles.length ? ` (${auth.roles.join(', ')})` : ''}`;
  openEvents();
  clearTimeout(keepAlive);
  keepSessionAlive();
  await loadAll();
}

// An open dashboard is a monitoring screen: keep its session alive, well within the service's
// SessionTimeout (30 s at the least, and changeable: read on every round), and notice when
// it was deleted elsewhere (the 401 returns to the login form).
async function keepSessionAlive() {
  const me = auth;
  let timeout = 1800;
  try {
    timeout = (await api('GET', SESSION_SERVICE)).json?.SessionTimeout || timeout;
  } catch { /* a 401 ended it; anything else: try again */ }
  if (auth !== me) return;
  clearTimeout(keepAlive);
  keepAlive = setTimeout(keepSessionAlive, Math.min(120, timeout / 3) * 1000);
}

function stopEverything() {
  clearTimeout(keepAlive);
  if (sse) sse.abort.abort();
  sse = null;
  closeLarge();
  for (const p of ports.values()) p.destroy();
  ports.clear();
  systems.clear();
  render();
}

// ---- the inventory -------------------------------------------------------------------------

async function loadAll() {
  let list;
  try {
    list = (await api('GET', PORTS)).json;
  } catch (e) {
    toast(`Could not list the consoles: ${e.message}`);
    return;
  }
  const seen = new Set();
  await Promise.all((list.Members || []).map(async (m) => {
    const uri = odataId(m);
    seen.add(uri.split('/').pop());
    await refreshPort(uri);
  }));
  for (const [id, p] of ports) if (!seen.has(id)) removePort(id);
  render();
}

async function refreshPort(uri) {
  const id = uri.split('/').pop();
  let si;
  try {
    si = (await api('GET', uri)).json;
  } catch (e) {
    if (e.status === 404) removePort(id);
    return;
  }
  if (!auth) return;
  const sysUri = odataId(si.Links?.Oem?.Vsc?.ComputerSystem);
  if (sysUri && !systems.has(sysUri)) await refreshSystem(sysUri);
  let p = ports.get(id);
  if (!p) {
    p = new Port(id, si, sysUri);
    ports.set(id, p);
  }
  p.update(si);
  render();
}

async function refreshSystem(uri) {
  try {
    const cs = (await api('GET', uri)).json;
    systems.set(uri, {
      name: cs.HostName || cs.Name || cs.Id,
      state: cs.Oem?.Vsc?.ConsoleState || 'Unknown',
      health: cs.Status?.Health || 'OK',
      line: cs.Oem?.Vsc?.ConsoleStateLine || '',
    });
  } catch (e) {
    if (e.status === 404) systems.delete(uri);
    return;
  }
  for (const p of ports.values()) if (p.sysUri === uri) p.paint();
  render();
}

function removePort(id) {
  const p = ports.get(id);
  if (!p) return;
  if (large === p) closeLarge();
  p.destroy();
  ports.delete(id);
  render();
}

// ---- events (SSE over fetch) ---------------------------------------------------------------

function openEvents() {
  const abort = new AbortController();
  const me = { abort, lastId: null };
  sse = me;
  (async () => {
    while (sse === me && auth) {
      try {
        await readEvents(me);
      } catch (e) {
        if (abort.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return;
      }
      if (sse !== me) return;
      setStreamStatus(false);
      await sleep(2000);
      if (sse === me && auth) loadAll(); // catch up on what happened while disconnected
    }
  })();
}

async function readEvents(me) {
  const headers = { 'X-Auth-Token': auth.token, Accept: 'text/event-stream' };
  if (me.lastId) headers['Last-Event-ID'] = me.lastId;
  const r = await fetch(SSE, { headers, credentials: 'omit', cache: 'no-store', signal: me.abort.signal });
  if (!r.ok) {
    if (r.status === 401) sessionEnded('Your session ended; log in again.');
    throw new ApiError(r.status, null);
  }
  setStreamStatus(true);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (data.length) {
          if (id !== null) me.lastId = id;
          try { onEvent(JSON.parse(data.join('\n'))); } catch { /* not an Event */ }
        }
        data = [];
        id = null;
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      } else if (line.startsWith('id:')) {
        id = line.slice(3).trim();
      }
    }
  }
}

function onEvent(ev) {
  for (const rec of ev.Events || []) {
    const msg = rec.MessageId || '';
    const key = msg.split('.').pop();
    const origin = odataId(rec.OriginOfCondition);
    const isPort = origin.startsWith(`${PORTS}/`);
    const isSystem = origin.startsWith('/redfish/v1/Systems/');
    if (key === 'EventsLost') {
      loadAll();
    } else if (key === 'ResourceCreated' || key === 'ResourceChanged') {
      if (isPort) refreshPort(origin);
      else if (isSystem) refreshSystem(origin);
    } else if (key === 'ResourceRemoved') {
      if (isPort) removePort(origin.split('/').pop());
      else if (isSystem) systems.delete(origin);
    } else if (key === 'ConsolePanic' && isSystem) {
      const s = systems.get(origin);
      if (s) {
        s.state = 'Panic';
        s.line = rec.MessageArgs?.[1] || s.line;
        for (const p of ports.values()) if (p.sysUri === origin) p.paint();
        render();
      }
      refreshSystem(origin);
    } else if (key === 'ConsoleStateChanged' && isSystem) {
      refreshSystem(origin);
    }
  }
}

function setStreamStatus(up) {
  const s = $('stream-status');
  s.textContent = up ? '● live' : '○ reconnecting';
  s.classList.toggle('down', !up);
}

// ---- a console: one tile, its WebSocket, and the large view when open ----------------------

const STATE_CLASS = {
  Panic: 'panic', Running: 'running', Booting: 'booting', Firmware: 'booting',
  Rebooting: 'booting', Off: 'off', Unknown: 'unknown',
};

function consoleSocket(uri, history) {
  const url = new URL(uri, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (history) url.searchParams.set('history', String(history));
  const ws = new WebSocket(url, ['vsc.v1', `vsc.token.${auth.token}`]);
  ws.binaryType = 'arraybuffer';
  return ws;
}

class Conn {
  // One console WebSocket feeding one terminal; `owner` hears the control messages.
  constructor(port, term, history, owner) {
    this.port = port;
    this.term = term;
    this.owner = owner;
    this.closed = false;
    this.history = history;
    this.open(false);
  }

  // A reconnection replays the same history into a cleared terminal: the protocol promises
  // no gap and no duplicate within one connection only, so what came while it was away is
  // neither lost nor shown twice (as long as it is still in the ring).
  open(again) {
    const ws = consoleSocket(this.port.consoleUri, this.history);
    this.ws = ws;
    ws.onopen = () => { if (again) this.term.reset(); };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') {
        this.term.write(new Uint8Array(m.data));
        return;
      }
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      this.owner.control(msg, this);
    };
    ws.onclose = (e) => {
      clearInterval(this.pinger);
      if (this.closed || !auth) return;
      this.owner.disconnected(e, this);
      if (e.code === 1001 || e.code === 1008) return; // freed / revoked / session gone
      // Anything else (vscd restarted, network): try again a little later.
      setTimeout(() => { if (!this.closed && auth && ports.get(this.port.id) === this.port) this.open(true); }, 3000);
    };
    this.pinger = setInterval(() => this.send(JSON.stringify({ type: 'ping' })), PING_MS);
  }

  send(data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
  }
}

function makeTerminal(opts) {
  const term = new Terminal({
    convertEol: false,
    cursorBlink: false,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    theme: { background: '#0b0e14', foreground: '#d8dee9' },
    ...opts,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  return { term, fit };
}

class Port {
  constructor(id, si, sysUri) {
    this.id = id;
    this.uri = si['@odata.id'];
    this.sysUri = sysUri;
    this.consoleUri = si.Oem?.Vsc?.ConsoleURI || `${this.uri}/Oem/Vsc/Console`;
    this.mode = 'Free';
    this.holder = null;
    this.attached = new Map(); // connection Id -> user name
    this.rights = [];
    this.selected = false;
    this.notice = '';
    this.build();
  }

  build() {
    const el = document.createElement('article');
    el.className = 'tile';
    el.tabIndex = 0;
    el.dataset.port = this.id;
    el.innerHTML = `
      <div class="tile-head">
        <input type="checkbox" class="select" aria-label="Select for broadcast input">
        <h2 class="host"></h2>
        <span class="badge state"></span>
        <span class="badge mode"></span>
      </div>
      <div class="tile-sub"><span class="attached"></span><span class="port-id"></span></div>
      <div class="tile-term"></div>
      <div class="tile-dark" hidden></div>
      <div class="tile-line"></div>
      <div class="tile-notice" role="status"></div>`;
    this.el = el;
    this.q = (sel) => el.querySelector(sel);
    this.q('.select').addEventListener('change', (e) => {
      this.selected = e.target.checked;
      renderBroadcast();
    });
    this.q('.select').addEventListener('keydown', (e) => e.stopPropagation());
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target === el) {
        e.preventDefault();
        openLarge(this);
      }
    });
    el.addEventListener('dblclick', () => openLarge(this));
    this.q('.host').addEventListener('click', () => openLarge(this));
    const { term, fit } = makeTerminal({ fontSize: 11, disableStdin: true, scrollback: 500, rows: 18 });
    this.term = term;
    this.fit = fit;
    term.open(this.q('.tile-term'));
    this.conn = null; // opened by update() once the rights say Watch
    // The terminal's own textarea would take keyboard focus: the tile is what tabbing reaches.
    if (term.textarea) term.textarea.tabIndex = -1;
    this.resizer = new ResizeObserver(() => { try { fit.fit(); } catch { /* hidden */ } });
    this.resizer.observe(this.q('.tile-term'));
  }

  update(si) {
    const v = si.Oem?.Vsc || {};
    this.mode = v.Mode || 'Free';
    this.holder = v.ModeHolder || null;
    this.attached = attachedMap(v.Attached);
    this.rights = v.EffectiveRights || [];
    this.portState = v.PortState;
    const watch = this.rights.includes('Watch');
    if (watch && !this.conn) this.conn = new Conn(this, this.term, TILE_HISTORY, this);
    if (!watch && this.conn) {
      this.conn.close();
      this.conn = null;
    }
    if (!watch) this.notice = NO_WATCH;
    if (!watch && large === this && largeConn) {
      largeConn.close();
      largeConn = null;
      showLargeNotice(NO_WATCH);
    }
    this.paint();
  }

  get system() {
    return systems.get(this.sysUri) || { name: `port ${this.id}`, state: 'Unknown', health: 'OK', line: '' };
  }

  // Private to someone else: this user receives nothing.
  get dark() {
    return this.mode === 'Private' && this.holder && auth && this.holder !== auth.user;
  }

  paint() {
    const s = this.system;
    const el = this.el;
    el.dataset.state = s.state;
    el.dataset.mode = this.mode;
    el.dataset.host = s.name;
    el.className = `tile st-${STATE_CLASS[s.state] || 'unknown'}${this.dark ? ' dark' : ''}${this.selected ? ' selected' : ''}`;
    this.q('.host').textContent = s.name;
    this.q('.state').textContent = s.state;
    this.q('.state').className = `badge state st-${STATE_CLASS[s.state] || 'unknown'}`;
    this.q('.state').title = s.line;
    this.q('.mode').textContent = modeText(this.mode, this.holder);
    this.q('.mode').className = `badge mode m-${this.mode}`;
    const users = [...new Set(this.attached.values())];
    this.q('.attached').textContent = users.length ? `attached: ${users.join(', ')}` : 'nobody attached';
    this.q('.port-id').textContent = `port ${this.id}${this.portState && this.portState !== 'Connected' ? ` · VM ${this.portState.toLowerCase()}` : ''}`;
    const dark = this.q('.tile-dark');
    dark.hidden = !this.dark;
    dark.textContent = this.dark ? `Private to ${this.holder}: output is hidden` : '';
    this.q('.tile-notice').textContent = this.notice;
    this.q('.tile-line').textContent = s.state === 'Panic' ? s.line : '';
    el.setAttribute('aria-label', `${s.name}, ${s.state}, ${modeText(this.mode, this.holder)}; Enter opens it large`);
    if (large === this) paintLarge();
  }

  // Control messages from either of this port's connections (tile or large view): with the
  // large view open both hear each attach and detach, so the list is keyed by connection Id.
  control(msg, conn) {
    switch (msg.type) {
      case 'hello':
        this.attached = attachedMap(msg.attached);
        break;
      case 'attached': {
        const c = msg.connection || {};
        if (msg.event === 'attach') this.attached.set(c.Id, c.UserName);
        else this.attached.delete(c.Id);
        break;
      }
      case 'mode':
        this.mode = msg.mode;
        this.holder = msg.holder;
        // The tile's notice said what the previous mode (or a closed connection) meant; a
        // notice the new mode brings (output hidden) follows this message.
        if (conn === this.conn) this.notice = '';
        if (conn !== this.conn && msg.reason !== 'current') {
          showLargeNotice(`${modeText(msg.mode, msg.holder)}${msg.by ? ` (set by ${msg.by}${msg.forced ? ', forced' : ''})` : ''}`, true);
        }
        break;
      case 'notice':
        if (conn === this.conn) this.notice = msg.error;
        else showLargeNotice(msg.error);
        break;
      case 'missed':
        conn.term.write(`\r\n\x1b[33m[vsc: ${msg.bytes} bytes skipped]\x1b[0m\r\n`);
        break;
      default:
        break;
    }
    this.paint();
  }

  disconnected(e, conn) {
    // 1001: the port was freed (or vscd stops); the event says so too, but a read that
    // raced with it may have kept the tile: ask once more.
    if (e.code === 1001 && conn === this.conn) refreshPort(this.uri);
    // 1006 before any data: refused (rights, a freed port)? The port's rights decide, for
    // the tile and the large view alike (update() closes either without Watch).
    if (e.code === 1006) refreshPort(this.uri);
    const why = e.reason ? `console closed: ${e.reason}` : `console closed (${e.code})`;
    if (large === this && conn !== this.conn) showLargeNotice(why);
    else this.notice = why;
    this.paint();
  }

  matches(text, state) {
    const s = this.system;
    return (!text || s.name.toLowerCase().includes(text)) && (!state || s.state === state);
  }

  destroy() {
    if (this.conn) this.conn.close();
    this.resizer.disconnect();
    this.term.dispose();
    this.el.remove();
  }
}

function attachedMap(list) {
  return new Map((list || []).map((c) => [c.Id, c.UserName]));
}

function modeText(mode, holder) {
  if (mode === 'ObserveOnly') return `observe-only by ${holder}`;
  if (mode === 'Private') return `private to ${holder}`;
  return 'free use';
}

// ---- the grid, filters, the panic banner ---------------------------------------------------

function sortedPorts() {
  return [...ports.values()].sort((a, b) => {
    const pa = a.system.state === 'Panic' ? 0 : 1;
    const pb = b.system.state === 'Panic' ? 0 : 1;
    return pa - pb || a.system.name.localeCompare(b.system.name) || Number(a.id) - Number(b.id);
  });
}

function render() {
  const grid = $('grid');
  const text = $('filter-text').value.trim().toLowerCase();
  const state = $('filter-state').value;
  let shown = 0;
  const list = sortedPorts();
  list.forEach((p, i) => {
    if (grid.children[i] !== p.el) grid.insertBefore(p.el, grid.children[i] || null);
    p.el.hidden = !p.matches(text, state);
    if (!p.el.hidden) shown++;
  });
  const panics = list.filter((p) => p.system.state === 'Panic');
  const banner = $('panic-banner');
  banner.hidden = panics.length === 0;
  banner.replaceChildren();
  if (panics.length) {
    const names = [...new Set(panics.map((p) => p.system.name))];
    const b = document.createElement('strong');
    b.textContent = `⚠ ${names.length} VM${names.length > 1 ? 's' : ''} in kernel panic: `;
    banner.append(b);
    for (const p of panics) {
      const a = document.createElement('button');
      a.type = 'button';
      a.textContent = p.system.name;
      a.title = p.system.line;
      a.addEventListener('click', () => openLarge(p));
      banner.append(a, ' ');
    }
  }
  $('counts').textContent = `${shown} of ${list.length} consoles${panics.length ? ` · ${panics.length} panic` : ''}`;
  $('counts').classList.toggle('has-panic', panics.length > 0);
  $('empty').hidden = list.length > 0 || !auth;
  renderBroadcast();
}

// ---- broadcast input (Vsc.SendInput) -------------------------------------------------------

function selectedPorts() {
  return [...ports.values()].filter((p) => p.selected);
}

function renderBroadcast() {
  const sel = selectedPorts();
  $('broadcast').hidden = sel.length === 0;
  $('broadcast-count').textContent = `${sel.length} selected:`;
  for (const p of ports.values()) p.el.classList.toggle('selected', p.selected);
}

async function broadcast(text) {
  const sel = selectedPorts();
  if (!sel.length) return;
  const out = $('broadcast-result');
  out.textContent = 'sending…';
  try {
    const r = await api('POST', SEND_INPUT, { Ports: sel.map((p) => p.id), Data: `${text}\r` });
    const refused = (r.json.Results || []).filter((x) => x.Result !== 'Sent');
    const sent = (r.json.Results || []).length - refused.length;
    out.textContent = `sent to ${sent}` + (refused.length
      ? `; refused: ${refused.map((x) => `${ports.get(x.Port)?.system.name || x.Port} (${x.Message || x.Reason})`).join('; ')}` : '');
    out.classList.toggle('error', refused.length > 0);
  } catch (e) {
    out.textContent = `refused: ${e.message}`;
    out.classList.add('error');
  }
}

// ---- the large view ------------------------------------------------------------------------

let largeTerm = null;
let largeConn = null;
let largeFit = null;
let largeResize = null;
let returnFocus = null;

function openLarge(p) {
  if (large === p) return;
  closeLarge();
  large = p;
  returnFocus = p.el;
  $('app').inert = true; // a modal view: Tab stays inside it
  $('large').hidden = false;
  $('large-notice').textContent = '';
  $('act-force').checked = false;
  const { term, fit } = makeTerminal({ fontSize: 14, scrollback: 10000 });
  largeTerm = term;
  largeFit = fit;
  term.open($('large-term'));
  try { fit.fit(); } catch { /* not laid out yet */ }
  largeResize = new ResizeObserver(() => { try { fit.fit(); } catch { /* closing */ } });
  largeResize.observe($('large-term'));
  // Without Watch the server refuses the socket (403, which a browser sees as 1006 only).
  const watch = p.rights.includes('Watch');
  largeConn = watch ? new Conn(p, term, LARGE_HISTORY, p) : null;
  // Escape belongs to the VM (editors, menus) while typing: Shift+Escape closes the view.
  term.attachCustomKeyEventHandler((e) => {
    if (e.type === 'keydown' && e.key === 'Escape' && e.shiftKey) {
      closeLarge();
      return false;
    }
    return true;
  });
  term.onData((d) => {
    if (!largeConn?.send(new TextEncoder().encode(d))) showLargeNotice('not connected; input not sent');
  });
  paintLarge();
  if (!watch) showLargeNotice(NO_WATCH);
  term.focus();
}

function closeLarge() {
  if (!large) return;
  largeConn?.close();
  largeResize.disconnect();
  largeTerm.dispose();
  largeConn = largeTerm = largeFit = largeResize = null;
  large = null;
  $('large').hidden = true;
  $('app').inert = false;
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
  returnFocus = null;
}

function paintLarge() {
  const p = large;
  if (!p) return;
  const s = p.system;
  $('large-title').textContent = `${s.name} · port ${p.id}`;
  const st = $('large-state');
  st.textContent = s.state;
  st.className = `badge state st-${STATE_CLASS[s.state] || 'unknown'}`;
  st.title = s.line;
  const m = $('large-mode');
  m.textContent = modeText(p.mode, p.holder);
  m.className = `badge mode m-${p.mode}`;
  const users = [...new Set(p.attached.values())];
  $('large-attached').textContent = users.length ? `attached: ${users.join(', ')}` : '';
  const r = new Set(p.rights);
  const mine = p.holder && auth && p.holder === auth.user;
  const other = p.holder && !mine;
  const force = r.has('Force');
  $('act-observe').disabled = !r.has('Observe') || (other && !force);
  $('act-private').disabled = !r.has('Private') || (other && !force);
  $('act-free').disabled = p.mode === 'Free' || (other && !force);
  $('act-force').disabled = !force;
  $('act-force').parentElement.hidden = !force;
  $('large-rights').textContent = `your rights: ${p.rights.filter((x) => x !== 'Manage').join(', ') || 'none'}`;
  $('large').classList.toggle('dark', p.dark);
  $('large-dark').hidden = !p.dark;
  $('large-dark').textContent = p.dark ? `Private to ${p.holder}: output is hidden until it is released` : '';
  $('large').classList.toggle('panic', s.state === 'Panic');
}

function showLargeNotice(text, info = false) {
  const n = $('large-notice');
  n.textContent = text;
  n.classList.toggle('info', info);
  n.classList.remove('flash');
  void n.offsetWidth; // restart the animation
  n.classList.add('flash');
}

function requestMode(mode) {
  if (!largeConn) return;
  const force = $('act-force').checked;
  if (!largeConn.send(JSON.stringify({ type: 'mode', mode, force }))) showLargeNotice('not connected');
}

async function downloadTranscript() {
  const p = large;
  if (!p || !p.sysUri) return;
  try {
    const r = await fetch(`${p.sysUri}/LogServices/Console/Oem/Vsc/Transcript?Tail=1048576`, {
      headers: { 'X-Auth-Token': auth.token }, credentials: 'omit', cache: 'no-store',
    });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const blob = new Blob([await r.arrayBuffer()], { type: 'text/plain' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${p.system.name}-console.txt`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) {
    showLargeNotice(`transcript: ${e.message}`);
  }
}

// ---- small things --------------------------------------------------------------------------

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function toast(text) {
  $('toast').textContent = text;
}

// ---- wiring --------------------------------------------------------------------------------

function wire() {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    try {
      await login($('login-user').value, $('login-password').value);
      await start();
    } catch (err) {
      $('login-error').textContent = err.status === 401 ? 'Wrong user name or password.' : `Login failed: ${err.message}`;
    } finally {
      $('login-submit').disabled = false;
      $('login-password').value = '';
    }
  });
  $('logout').addEventListener('click', logout);
  $('filter-text').addEventListener('input', render);
  $('filter-state').addEventListener('change', render);
  $('broadcast').addEventListener('submit', (e) => {
    e.preventDefault();
    broadcast($('broadcast-text').value);
  });
  $('broadcast-clear').addEventListener('click', () => {
    for (const p of ports.values()) {
      p.selected = false;
      p.q('.select').checked = false;
    }
    renderBroadcast();
  });
  $('large-close').addEventListener('click', closeLarge);
  for (const b of document.querySelectorAll('.large-actions button[data-mode]')) {
    b.addEventListener('click', () => requestMode(b.dataset.mode));
  }
  $('large-transcript').addEventListener('click', (e) => {
    e.preventDefault();
    downloadTranscript();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && large && !$('large-term').contains(document.activeElement)) {
      e.preventDefault();
      closeLarge();
    }
  });
}

async function boot() {
  wire();
  const saved = sessionStorage.getItem('vsc.session');
  if (saved) {
    try {
      auth = JSON.parse(saved);
      await api('GET', auth.uri); // still valid?
      await start();
      return;
    } catch {
      auth = null;
      sessionStorage.removeItem('vsc.session');
    }
  }
  showLogin('');
}

boot();
