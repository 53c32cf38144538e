// dobj console: counter cards kept live by watch streams, the cluster as
// each node sees it, and a browser of objects and keys. Plain JavaScript,
// no build step; every node serves it. Reads use this node's own state
// (consistency=stale) and watches resume exactly after the index the read
// saw, so the page keeps working while this node is a follower or while
// the cluster elects a leader; writes go to this node, which forwards them.
'use strict';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const SEED_CARDS = ['card-1', 'card-2'];
// A browser opens at most six HTTP/1.1 connections to one node, and each
// watch stream holds one: past MAX_STREAMS cards, a card polls instead, so
// that clicks and the cluster panel always find a connection.
const MAX_STREAMS = 4;

// ---------- small helpers ----------

// getJSON reads url. Another member's status is read with the console's
// cookie, which that member honours for its members' pages (a cookie is
// kept per host, so it reaches the members on this host); a 401 from this
// node asks to sign in again.
async function getJSON(url, timeoutMs = 2500) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const member = url.startsWith('//');
  try {
    const r = await fetch(url, { signal: ctl.signal, cache: 'no-store', credentials: member ? 'include' : 'same-origin' });
    if (r.status === 401 && !member) showSignIn('the token is no longer accepted: sign in again');
    const body = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body, index: Number(r.headers.get('X-Dobj-Index') || 0) };
  } finally {
    clearTimeout(timer);
  }
}

let toastTimer;
function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 3500);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return 'k' + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------- counter cards ----------

const cards = new Map(); // name -> card state

function addCard(name) {
  if (!name || cards.has(name)) return;
  const value = el('div', { class: 'value', 'data-testid': 'value' }, '…');
  const meta = el('div', { class: 'meta' }, 'connecting');
  const card = { name, value: null, index: 0, es: null, live: false, valueEl: value, metaEl: meta, timer: null,
    polled: cards.size >= MAX_STREAMS };
  card.el = el('div', { class: 'card', id: 'card-' + name, 'data-name': name },
    el('div', { class: 'name' }, name),
    value,
    el('div', { class: 'row' },
      el('button', { class: 'btn minus', title: 'decrement', 'data-op': 'minus', onclick: () => bump(card, -1) }, '−'),
      el('button', { class: 'btn plus', title: 'increment', 'data-op': 'plus', onclick: () => bump(card, 1) }, '+')),
    meta);
  $('cards').append(card.el);
  cards.set(name, card);
  follow(card);
}

// show sets the card's value if it is at least as new as what it shows.
function show(card, value, index) {
  if (index < card.index) return;
  const changed = card.value !== value;
  card.value = value;
  card.index = index;
  card.valueEl.textContent = String(value);
  card.metaEl.textContent = 'index ' + index + (card.polled ? ' · polled' : card.live ? ' · live' : '');
  if (changed) {
    card.el.classList.add('flash');
    setTimeout(() => card.el.classList.remove('flash'), 350);
  }
}

function retryFollow(card, ms) {
  clearTimeout(card.timer);
  card.timer = setTimeout(() => follow(card), ms);
}

// follow reads the counter from this node and watches it from the index
// the read saw: nothing missed, nothing twice.
async function follow(card) {
  if (card.es) { card.es.close(); card.es = null; }
  setLive(card, false);
  let r;
  try {
    r = await getJSON('/' + enc(card.name) + '?consistency=stale');
  } catch (e) {
    retryFollow(card, 1000);
    return;
  }
  if (!r.ok || !r.body) { retryFollow(card, 1000); return; }
  if (card.polled) {
    // No stream for this card: read it again in a second.
    show(card, r.body.value, r.index);
    setLive(card, true);
    retryFollow(card, 1000);
    return;
  }
  card.index = 0;
  show(card, r.body.value, r.index);
  watchFrom(card, r.index);
}

function watchFrom(card, since) {
  const es = new EventSource('/' + enc(card.name) + '/watch?prefix=value&since=' + since);
  card.es = es;
  es.addEventListener('ready', () => setLive(card, true));
  es.addEventListener('change', (e) => {
    const d = JSON.parse(e.data);
    for (const c of d.changes) {
      if (c.key === 'value') show(card, c.deleted ? 0 : Number(c.value), d.index);
    }
  });
  es.addEventListener('cut', (e) => {
    // The node ended the stream and said why: resume where it left off,
    // or read again after a snapshot replaced its state.
    const d = JSON.parse(e.data);
    es.close();
    if (card.es !== es) return;
    card.es = null;
    setLive(card, false);
    if (d.reason === 'reset') { retryFollow(card, 300); return; }
    clearTimeout(card.timer);
    card.timer = setTimeout(() => watchFrom(card, Math.max(card.index, d.resume_after || 0)), d.reason === 'slow' ? 50 : 700);
  });
  es.onerror = () => {
    if (card.es !== es) return;
    setLive(card, false);
    // CONNECTING: the browser reconnects by itself, with Last-Event-ID.
    // CLOSED: the node refused (410 past its history, 503 without a
    // leader): read again and watch from there.
    if (es.readyState === EventSource.CLOSED) { card.es = null; retryFollow(card, 1000); }
  };
}

function setLive(card, live) {
  card.live = live;
  card.metaEl.textContent = 'index ' + card.index + (card.polled ? ' · polled' : live ? ' · live' : ' · reconnecting');
  const all = [...cards.values()];
  const on = all.length > 0 && all.every((c) => c.live);
  $('live').classList.toggle('on', on);
  $('live').classList.toggle('off', !on);
}

// bump adds by to the counter, retrying with one Idempotency-Key while
// the outcome is unknown or the cluster has no leader, so a click counts
// once even across a failover.
async function bump(card, by) {
  const key = newKey();
  const path = '/' + enc(card.name) + (by >= 0 ? '/increment?by=' + by : '/decrement?by=' + -by);
  for (let attempt = 0; attempt < 40; attempt++) {
    let r;
    try {
      r = await fetch(path, { method: 'POST', headers: { 'Idempotency-Key': key } });
    } catch (e) {
      await sleep(250);
      continue; // the answer was lost: retry with the same key
    }
    if (r.ok) {
      const b = await r.json();
      show(card, b.value, Number(r.headers.get('X-Dobj-Index') || 0));
      return;
    }
    if (r.status === 401) showSignIn('the token is no longer accepted: sign in again');
    if (r.status === 503 || r.status === 504) { await sleep(250); continue; }
    const p = await r.json().catch(() => ({}));
    toast(card.name + ': ' + (p.detail || r.statusText));
    return;
  }
  toast(card.name + ': no leader answered; try again');
}

function savedCards() {
  try { return JSON.parse(localStorage.getItem('dobj.cards') || '[]'); } catch (e) { return []; }
}

$('add-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('add-name').value.trim();
  if (!name || name.startsWith('_') || name.includes('/')) { toast('a name: no "/" and not starting with "_"'); return; }
  localStorage.setItem('dobj.cards', JSON.stringify([...new Set([...savedCards(), name])]));
  addCard(name);
  $('add-name').value = '';
});

// Counters others added show up once they hold a value: any object named
// card-*.
async function discoverCards() {
  try {
    const r = await getJSON('/_objects?consistency=stale&prefix=card-&limit=48');
    if (r.ok) for (const o of r.body.objects) addCard(o.name);
  } catch (e) { /* the next round */ }
}

// ---------- cluster panel ----------

let selfID = '';
const nodeSeen = new Map(); // id -> 'up' | 'down'
let lastLeader = null;

function note(html, bad) {
  const li = el('li', bad ? { class: 'bad' } : {});
  li.innerHTML = '<b>' + new Date().toLocaleTimeString() + '</b> ' + html;
  $('timeline').prepend(li);
  while ($('timeline').children.length > 40) $('timeline').lastChild.remove();
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function pollCluster() {
  let self;
  try {
    self = await getJSON('/_cluster/status', 900);
  } catch (e) {
    $('self-state').textContent = 'unreachable';
    $('self-state').className = 'pill down';
    return;
  }
  if (!self.ok) return;
  const st = self.body;
  selfID = st.id;
  $('self-id').textContent = st.id;
  $('self-state').textContent = st.state;
  $('self-state').className = 'pill ' + st.state;

  const views = await Promise.all(st.members.map(async (m) => {
    if (m.id === st.id) return { m, st };
    if (!m.http_addr) return { m, st: null };
    try {
      const r = await getJSON('//' + m.http_addr + '/_cluster/status', 900);
      return { m, st: r.ok ? r.body : null };
    } catch (e) {
      return { m, st: null };
    }
  }));

  const leaderID = st.leader.id;
  if (lastLeader !== null && leaderID !== lastLeader) {
    if (leaderID) note('leader <b>' + esc(lastLeader || 'none') + '</b> → <b>' + esc(leaderID) + '</b> in term ' + st.term);
    else note('<b>' + esc(lastLeader) + '</b> lost; electing a new leader', true);
  } else if (lastLeader === null && leaderID) {
    note('leader is <b>' + esc(leaderID) + '</b> (term ' + st.term + ')');
  }
  lastLeader = leaderID;

  const rows = views.map(({ m, st: v }) => {
    const state = v ? v.state : 'down';
    const was = nodeSeen.get(m.id);
    const now = v ? 'up' : 'down';
    if (was && was !== now) note('<b>' + esc(m.id) + '</b> is ' + (v ? 'back' : 'unreachable'), !v);
    nodeSeen.set(m.id, now);
    let health = '<span class="health-bad">unreachable</span>';
    if (v) {
      if (!v.leader.id) health = '<span class="health-warn">no leader</span>';
      else if (v.applied_index + 1000 < v.commit_index) health = '<span class="health-warn">catching up</span>';
      else health = '<span class="health-ok">healthy</span>';
    }
    const tr = el('tr', { class: m.id === st.id ? 'self' : '', 'data-node': m.id, 'data-state': state });
    tr.innerHTML =
      '<td class="mono">' + esc(m.id) + '</td>' +
      '<td><span class="pill ' + esc(state) + '">' + esc(state) + '</span></td>' +
      '<td>' + (v ? v.term : '–') + '</td>' +
      '<td>' + (v ? v.commit_index : '–') + '</td>' +
      '<td>' + (v ? v.applied_index : '–') + '</td>' +
      '<td>' + health + '</td>';
    return tr;
  });
  $('nodes').replaceChildren(...rows);
  const up = views.filter((v) => v.st).length;
  $('cluster-summary').textContent = up + '/' + views.length + ' nodes up · leader ' + (leaderID || 'none') + ' · term ' + st.term;
}

// ---------- object browser ----------

const browse = { prefix: '', next: '', at: '', open: null, keysAt: '', keysNext: '' };

async function loadObjects(startAfter) {
  browse.at = startAfter || '';
  const q = '/_objects?consistency=stale&limit=12&prefix=' + enc(browse.prefix) + '&start_after=' + enc(startAfter || '');
  let r;
  try { r = await getJSON(q); } catch (e) { toast('objects: ' + e.message); return; }
  if (!r.ok) { toast('objects: ' + ((r.body && r.body.detail) || r.status)); return; }
  const rows = r.body.objects.map((o) => {
    const tr = el('tr', { class: browse.open === o.name ? 'open' : '', 'data-object': o.name, onclick: () => openObject(o.name, '') });
    tr.append(el('td', { class: 'mono' }, o.name), el('td', {}, String(o.keys)), el('td', {}, String(o.bytes)));
    return tr;
  });
  if (rows.length === 0) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '3' }, 'no objects')));
  $('objects').replaceChildren(...rows);
  browse.next = r.body.more ? r.body.next_start_after : '';
  $('obj-next').disabled = !browse.next;
}

async function openObject(name, startAfter) {
  browse.open = name;
  browse.keysAt = startAfter || '';
  for (const tr of $('objects').children) tr.classList.toggle('open', tr.dataset.object === name);
  $('keys-title').textContent = name;
  const q = '/' + enc(name) + '/storage?consistency=stale&limit=15' + (startAfter ? '&startAfter=' + enc(startAfter) : '');
  let r;
  try { r = await getJSON(q); } catch (e) { toast(name + ': ' + e.message); return; }
  if (!r.ok) { toast(name + ': ' + ((r.body && r.body.detail) || r.status)); return; }
  const rows = r.body.entries.map((e) => el('tr', {}, el('td', {}, e.key), el('td', {}, JSON.stringify(e.value))));
  if (rows.length === 0) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '2' }, 'no keys')));
  $('keys').replaceChildren(...rows);
  const entries = r.body.entries;
  browse.keysNext = r.body.more && entries.length ? entries[entries.length - 1].key : '';
  $('keys-next').disabled = !browse.keysNext;
}

$('obj-form').addEventListener('submit', (e) => {
  e.preventDefault();
  browse.prefix = $('obj-prefix').value;
  loadObjects('');
});
$('obj-first').addEventListener('click', () => loadObjects(''));
$('obj-next').addEventListener('click', () => browse.next && loadObjects(browse.next));
$('keys-first').addEventListener('click', () => browse.open && openObject(browse.open, ''));
$('keys-next').addEventListener('click', () => browse.open && browse.keysNext && openObject(browse.open, browse.keysNext));
$('keys-next').disabled = true;

// ---------- SQL objects ----------

// SQLite-backed objects are listed by their names in the FSM; opening
// one lists its tables, and a table shows its first SQL_ROWS rows, each a
// read-only query of this node's copy (consistency=stale). The panel
// needs the admin role and stays hidden without it.
const SQL_ROWS = 50;
const TABLES_QUERY = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') " +
  "AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
const sqlb = { next: '', at: '', open: null, table: null };

async function sqlQuery(object, query) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 2500);
  try {
    const r = await fetch('/_sql/query?consistency=stale', { method: 'POST', signal: ctl.signal,
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ object, query, limit: SQL_ROWS }) });
    return { ok: r.ok, body: await r.json().catch(() => null) };
  } finally {
    clearTimeout(timer);
  }
}

async function loadSQLObjects(startAfter) {
  sqlb.at = startAfter || '';
  let r;
  try { r = await getJSON('/_sql/objects?consistency=stale&limit=12&start_after=' + enc(sqlb.at)); } catch (e) { return; }
  if (!r.ok || !r.body) { $('sql-panel').hidden = true; return; }
  $('sql-panel').hidden = false;
  const rows = r.body.objects.map((o) => {
    const open = sqlb.open && sqlb.open.object === o.object;
    const tr = el('tr', { class: open ? 'open' : '', 'data-sql-object': o.object, title: o.object, onclick: () => openSQLObject(o) });
    tr.append(el('td', { class: 'mono' }, o.id.slice(0, 12) + '…'), el('td', {}, o.class), el('td', {}, String(o.bytes)));
    return tr;
  });
  if (rows.length === 0) rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '3' }, 'no SQL objects')));
  $('sql-objects').replaceChildren(...rows);
  const list = r.body.objects;
  sqlb.next = r.body.more && list.length ? list[list.length - 1].object : '';
  $('sql-next').disabled = !sqlb.next;
}

async function openSQLObject(o) {
  if (!sqlb.open || sqlb.open.object !== o.object) sqlb.table = null;
  sqlb.open = o;
  for (const tr of $('sql-objects').children) tr.classList.toggle('open', tr.dataset.sqlObject === o.object);
  $('sql-title').textContent = o.class + ' ' + o.id.slice(0, 12) + '…';
  let r;
  try { r = await sqlQuery(o.object, TABLES_QUERY); } catch (e) { toast('SQL: ' + e.message); return; }
  if (!r.ok) { toast('SQL: ' + ((r.body && r.body.detail) || 'query failed')); return; }
  const names = r.body.rows.map((row) => row[0]);
  $('sql-tables').replaceChildren(...names.map((name) =>
    el('button', { class: 'btn ghost small' + (name === sqlb.table ? ' on' : ''), 'data-sql-table': name, onclick: () => openSQLTable(name) }, name)));
  if (names.length === 0) {
    $('sql-tables').replaceChildren(el('span', { class: 'muted' }, 'no tables'));
    showSQLRows([], [], false);
    return;
  }
  openSQLTable(names.includes(sqlb.table) ? sqlb.table : names[0]);
}

async function openSQLTable(name) {
  sqlb.table = name;
  for (const b of $('sql-tables').children) b.classList.toggle('on', b.dataset.sqlTable === name);
  let r;
  try { r = await sqlQuery(sqlb.open.object, 'SELECT * FROM "' + name.replace(/"/g, '""') + '"'); } catch (e) { toast('SQL: ' + e.message); return; }
  if (!r.ok) { toast('SQL: ' + ((r.body && r.body.detail) || 'query failed')); return; }
  showSQLRows(r.body.columns, r.body.rows, r.body.more);
}

function showSQLRows(columns, rows, more) {
  $('sql-head').replaceChildren(el('tr', {}, ...columns.map((c) => el('th', {}, c))));
  const trs = rows.map((row) => el('tr', {}, ...row.map((v) => {
    if (v === null) return el('td', { class: 'null' }, 'NULL');
    if (typeof v === 'object' && v.blob !== undefined) return el('td', {}, 'BLOB ' + v.blob);
    return el('td', {}, String(v));
  })));
  if (trs.length === 0) trs.push(el('tr', { class: 'empty' }, el('td', { colspan: String(Math.max(columns.length, 1)) }, 'no rows')));
  $('sql-rows').replaceChildren(...trs);
  $('sql-more').textContent = more ? 'the first ' + SQL_ROWS + ' rows' : '';
}

$('sql-first').addEventListener('click', () => loadSQLObjects(''));
$('sql-next').addEventListener('click', () => sqlb.next && loadSQLObjects(sqlb.next));

// ---------- sign-in ----------

// A node started with --auth-file asks for a token. The console posts it
// once to /_console/session, which starts a session and sets an HttpOnly
// cookie naming it that the browser sends with every request of this
// page, the watch streams included: the page keeps no token. Sessions are
// each node's own, so the console signs in on the other members of this
// host too, for its cluster panel to read them (a cookie is kept per
// host: members on other hosts are never sent the token).
function showSignIn(msg) {
  if (!$('signin').hidden) return;
  $('signin').hidden = false;
  $('signin-msg').textContent = msg || '';
  $('signin-token').focus();
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  let r;
  try {
    r = await fetch('/_console/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: $('signin-token').value }) });
  } catch (err) {
    $('signin-msg').textContent = 'this node did not answer: ' + err.message;
    return;
  }
  if (r.ok) {
    await signInMembers($('signin-token').value);
    location.reload();
    return;
  }
  const p = await r.json().catch(() => ({}));
  $('signin-msg').textContent = p.detail || r.statusText;
});

// signInMembers starts a session of token on every other member whose
// address is on this page's host; failures only leave the panel
// showing that member as unreachable.
async function signInMembers(token) {
  const self = await getJSON('/_cluster/status', 900).catch(() => null);
  if (!self || !self.ok) return;
  await Promise.all(self.body.members.map(async (m) => {
    if (m.id === self.body.id || !m.http_addr) return;
    const host = m.http_addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (host !== location.hostname.replace(/^\[|\]$/g, '')) return;
    await fetch('//' + m.http_addr + '/_console/session', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) }).catch(() => {});
  }));
}

$('signout').addEventListener('click', async () => {
  const self = await getJSON('/_cluster/status', 900).catch(() => null);
  const members = self && self.ok ? self.body.members.filter((m) => m.id !== self.body.id && m.http_addr) : [];
  await Promise.all(members.map((m) =>
    fetch('//' + m.http_addr + '/_console/session', { method: 'DELETE', credentials: 'include' }).catch(() => {})));
  await fetch('/_console/session', { method: 'DELETE' }).catch(() => {});
  location.reload();
});

// ---------- start ----------

function start() {
  for (const name of [...SEED_CARDS, ...savedCards()]) addCard(name);
  discoverCards();
  setInterval(discoverCards, 5000);
  pollCluster();
  setInterval(pollCluster, 1000);
  loadObjects('');
  loadSQLObjects('');
  // The pages shown are read again every few seconds, so new objects and
  // keys show up without a click.
  setInterval(() => {
    loadObjects(browse.at);
    if (browse.open) openObject(browse.open, browse.keysAt);
    loadSQLObjects(sqlb.at);
    if (sqlb.open && sqlb.table) openSQLTable(sqlb.table);
  }, 4000);
}

(async () => {
  let s = { auth: false };
  try {
    const r = await getJSON('/_console/session');
    if (r.ok && r.body) s = r.body;
  } catch (e) { /* an older node, or none: start and see */ }
  if (s.auth && s.role === 'none') { showSignIn(); return; }
  if (s.auth) {
    $('role').textContent = s.role;
    $('account').hidden = false;
  }
  start();
})();
