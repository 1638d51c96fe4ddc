// app.js -- the dashboard: sign-in, the logs page, the request panel.
//
// Owns: what the page shows and when it talks to the collector. The
// server decides who sees what (doc/http-api.md, "Who sees what"); the
// page only asks with the signed-in token and shows what comes back: a
// 401 anywhere signs the tab out, a 404 is "not found or not yours".
//
// The page's state is its URL: the hash is a query string of the filters
// (app, version, runner, request, source, level, search), the request
// open in the panel (open=ID), the backlog size (tail=N, default 1000),
// and the view (view=runners or view=requests: lists.js's tables, which
// take the app, version and source filters, and state=; none: the logs).
// Changing a filter writes the hash; a hash change (typed, pasted, Back)
// is applied to the page. So a view can be shared by its address, and the
// token never is (it stays in sessionStorage, see api.js).
//
// The logs page follows GET /v1/logs with max_lag: a tab that cannot keep
// up (a slow machine, a busy tab) is skipped ahead by the server and says
// so in the list; the skipped lines stay in the store. Pause closes the
// stream and resume reopens it after the last line shown.
//
// With an app in the filters, the app's log drains are listed above the
// logs (GET /v1/apps/{app}/drains): each one's kind, destination, state,
// what it sent and its lag. A 404 (not the user's app) shows nothing.
//
// The request panel (the Playground's view) follows one request's logs
// and shows its status: IN_PROGRESS until the stream's `event: status` or
// the status endpoint (polled as a fallback) says COMPLETED; if the panel
// fell behind on the way, it then reloads the request's complete logs.

import { ApiError, apiGet, clearToken, getToken, seg, setToken } from './api.js';
import { Follow } from './sse.js';
import { LogView, localTime } from './logview.js';
import { renderAnsi } from './ansi.js';
import { ListView } from './lists.js';

const FILTERS = ['app', 'version', 'runner', 'request', 'source', 'level', 'search'];
const LIST_FILTERS = ['app', 'version', 'source']; // what the lists take of FILTERS
const VIEWS = ['logs', 'runners', 'requests'];
const MAX_LAG = 5000;        // lines a follower may be behind before it is skipped ahead
const DEFAULT_TAIL = 1000;   // backlog lines shown when the logs page opens
const MAX_TAIL = 50000;      // also the list's capacity
const STATUS_POLL_MS = 3000; // request status fallback while IN_PROGRESS
const COMPLETE_PAGE = 10000; // lines per page when reloading a request's logs

const $ = (id) => document.getElementById(id);

const page = {
  user: null,
  follow: null,
  filtersKey: null,
  paused: false,
  skipped: 0,
  main: null,    // LogView of the logs page
  panel: null,   // RequestPanel
  lists: null,   // ListView of the runners and requests views
  listKey: null,
};

// ---- URL state ----

function readHash() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const filters = {};
  for (const key of FILTERS) filters[key] = (params.get(key) || '').trim();
  filters.level = filters.level.toUpperCase();
  let tail = Number.parseInt(params.get('tail') || '', 10);
  if (!Number.isSafeInteger(tail) || tail < 1) tail = DEFAULT_TAIL;
  let view = params.get('view') || 'logs';
  if (!VIEWS.includes(view)) view = 'logs';
  const state = (params.get('state') || '').toUpperCase();
  return { filters, tail: Math.min(tail, MAX_TAIL), open: params.get('open') || '', view, state };
}

function writeHash(state) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state.filters[key]) params.set(key, state.filters[key]);
  if (state.tail !== DEFAULT_TAIL) params.set('tail', String(state.tail));
  if (state.open) params.set('open', state.open);
  if (state.view && state.view !== 'logs') params.set('view', state.view);
  if (state.state) params.set('state', state.state);
  const hash = params.toString();
  if (hash !== window.location.hash.replace(/^#/, '')) {
    window.history.pushState(null, '', hash ? '#' + hash : window.location.pathname + window.location.search);
  }
  applyHash();
}

function formFilters() {
  const form = $('filters');
  const filters = {};
  for (const key of FILTERS) filters[key] = form.elements[key].value.trim();
  return filters;
}

// ---- sign-in ----

function show(view) {
  const signedIn = view !== 'signin';
  $('signin-view').hidden = signedIn;
  $('logs-view').hidden = view !== 'logs';
  $('list-view').hidden = view !== 'runners' && view !== 'requests';
  $('signout').hidden = !signedIn;
  $('who').hidden = !signedIn;
  $('tabs').hidden = !signedIn;
  for (const tab of $('tabs').querySelectorAll('button')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
}

function showSignIn(message) {
  show('signin');
  $('signin-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

async function signIn(token, fromForm) {
  $('signin-error').textContent = fromForm ? 'Signing in…' : '';
  let who;
  try {
    who = await apiGet('v1/whoami', {}, { token });
  } catch (err) {
    if (err.status === 401) {
      clearToken();
      showSignIn(fromForm ? 'That token is not valid (unknown or revoked).'
                          : 'Your token is no longer valid. Sign in again.');
    } else {
      showSignIn('Cannot sign in: ' + err.message);
    }
    return;
  }
  setToken(token);
  page.user = who;
  $('who').textContent = 'signed in as ' + who.user + (who.admin ? ' (admin: sees every log)' : '');
  show('logs');
  loadApps();
  applyHash();
}

function signOut(message) {
  stopMain();
  page.lists.stop();
  page.listKey = null;
  page.panel.close();
  page.filtersKey = null;
  page.main.clear();
  page.user = null;
  clearToken();
  showSignIn(message);
}

// Any API answer of 401 means this tab's token is gone.
function handleAuthFailure(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut('Your token was rejected (' + err.message + '). Sign in again.');
    return true;
  }
  return false;
}

async function loadApps() {
  try {
    const doc = await apiGet('v1/apps');
    const list = $('app-list');
    list.replaceChildren();
    for (const app of doc.apps || []) {
      const option = document.createElement('option');
      option.value = app.app_id;
      list.appendChild(option);
    }
  } catch (err) {
    handleAuthFailure(err); // otherwise the list only helps typing
  }
}

// ---- the logs page ----

function applyHash() {
  if (!page.user) return;
  const state = readHash();
  show(state.view);
  if (state.view !== 'logs') {
    applyListState(state);
  } else {
    page.lists.stop();
    page.listKey = null;
  }
  const form = $('filters');
  for (const key of FILTERS) {
    if (form.elements[key].value !== state.filters[key]) form.elements[key].value = state.filters[key];
  }
  const key = JSON.stringify([state.filters, state.tail]);
  if (state.view !== 'logs') {
    stopMain(); // the logs stream resumes when the logs view is back
    page.filtersKey = null;
  } else if (key !== page.filtersKey) {
    page.filtersKey = key;
    startMain(state);
    loadDrains(state.filters.app);
  }
  if (state.open) page.panel.open(state.open);
  else page.panel.close();
  const active = FILTERS.filter((k) => state.filters[k]).map((k) => `${k}=${state.filters[k]}`);
  document.title = 'logtap' + (active.length ? ' — ' + active.join(' ') : '');
}

// ---- the runners and requests views ----

function listFilters() {
  const form = $('list-filters');
  const filters = {};
  for (const key of LIST_FILTERS) filters[key] = form.elements[key].value.trim();
  return { filters, state: form.elements.state.value };
}

function applyListState(state) {
  const form = $('list-filters');
  for (const key of LIST_FILTERS) {
    if (form.elements[key].value !== state.filters[key]) form.elements[key].value = state.filters[key];
  }
  form.elements.state.value = state.view === 'requests' ? state.state : '';
  $('state-filter').hidden = state.view !== 'requests';
  const params = {};
  for (const key of LIST_FILTERS) if (state.filters[key]) params[key] = state.filters[key];
  if (state.view === 'requests' && state.state) params.state = state.state;
  const key = JSON.stringify([state.view, params]);
  if (key === page.listKey) return;
  page.listKey = key;
  page.lists.show(state.view, params);
}

function submitListFilters() {
  const current = readHash();
  const { filters, state } = listFilters();
  writeHash({ ...current, filters: { ...current.filters, ...filters }, state });
}

// A runner's ID in a list: the logs view, narrowed to that runner.
function showRunnerLogs(id) {
  const current = readHash();
  const filters = {};
  for (const key of FILTERS) filters[key] = '';
  filters.runner = id;
  writeHash({ ...current, filters, view: 'logs', state: '' });
}

// ---- the app's drains ----

async function loadDrains(app) {
  const section = $('drains');
  section.hidden = true;
  section.replaceChildren();
  if (!app) return;
  let doc;
  try {
    doc = await apiGet('v1/apps/' + seg(app) + '/drains');
  } catch (err) {
    handleAuthFailure(err); // a 404: not this user's app, nothing to show
    return;
  }
  if (readHash().filters.app !== app) return; // the filters changed meanwhile
  const title = document.createElement('h2');
  title.textContent = 'Log drains of ' + app;
  section.append(title);
  if (!doc.drains || doc.drains.length === 0) {
    const none = document.createElement('p');
    none.textContent = 'None. Add one with: logtap drains add ' + app + ' --kind ndjson|otlp|syslog --url URL';
    section.append(none);
  }
  for (const d of doc.drains || []) {
    const row = document.createElement('div');
    row.className = 'drain drain-' + (d.state || 'starting');
    const lag = d.lag_lines ? `, ${d.lag_lines} behind (${Math.round(d.lag_seconds || 0)} s)` : '';
    const error = d.last_error && d.state === 'retrying' ? ' — ' + d.last_error : '';
    row.textContent = `${d.kind} → ${d.url}: ${d.state}, ${d.lines_sent} lines sent${lag}` +
      (d.batches_failed ? `, ${d.batches_failed} batches failed` : '') + error;
    row.title = d.id;
    section.append(row);
  }
  section.hidden = false;
}

function stopMain() {
  if (page.follow) page.follow.stop();
  page.follow = null;
}

function startMain(state) {
  stopMain();
  page.main.clear();
  page.skipped = 0;
  page.paused = false;
  $('pause').textContent = 'Pause';
  $('detail').hidden = true;
  const params = { max_lag: MAX_LAG }; // the server exempts the tail backlog
  for (const key of FILTERS) if (state.filters[key]) params[key] = state.filters[key];
  page.follow = new Follow('v1/logs', {
    baseParams: params,
    firstParams: { tail: state.tail },
    token: getToken(),
    onEvent: (event, data) => {
      if (event === 'log') page.main.append(data);
      else if (event === 'behind') {
        page.skipped++;
        page.main.notice(behindNotice(data));
        setStreamState('live', '');
      }
    },
    onState: (state, detail) => setStreamState(state, detail),
  });
  page.follow.start();
}

function behindNotice(data) {
  return `⏭ This tab fell behind: skipped to line #${data.resume_after} ` +
         `(lines after #${data.skipped_after} are still stored; narrow the filters or ` +
         `use the CLI to see them all).`;
}

// The server ended a stream on purpose (doc/http-api.md, "Access while a
// stream is open"): if the token is gone, sign out; else say why.
async function streamEnded(reason, show) {
  try {
    await apiGet('v1/whoami');
  } catch (err) {
    if (handleAuthFailure(err)) return;
  }
  show(reason);
}

function setStreamState(state, detail) {
  const el = $('stream-state');
  el.dataset.state = state;
  if (state === 'ended') {
    el.textContent = 'ended';
    streamEnded(detail, (reason) => { el.textContent = 'ended: ' + reason; });
  } else if (state === 'failed') {
    if (handleAuthFailure(detail)) return;
    el.textContent = 'error: ' + detail.message;
  } else if (state === 'live') {
    el.textContent = page.skipped ? `live (skipped ahead ${page.skipped}×)` : 'live';
  } else if (state === 'connecting') {
    el.textContent = 'connecting…' + (detail ? ' ' + detail : '');
  } else if (state === 'retrying') {
    el.textContent = 'disconnected: ' + detail;
  } else {
    el.textContent = state;
  }
}

function togglePause() {
  if (!page.follow) return;
  page.paused = !page.paused;
  $('pause').textContent = page.paused ? 'Resume' : 'Pause';
  if (page.paused) {
    page.follow.stop();
    const el = $('stream-state');
    el.dataset.state = 'paused';
    el.textContent = 'paused' + (page.follow.lastId !== null ? ` after line #${page.follow.lastId}` : '');
  } else {
    page.follow.start();
  }
}

function updateCount(view, el) {
  const n = view.entries.length;
  const text = `${n.toLocaleString()} line${n === 1 ? '' : 's'}` +
               (n >= view.cap ? ` (newest ${view.cap.toLocaleString()} kept)` : '');
  if (el.textContent !== text) el.textContent = text;
}

// ---- the line detail ----

function field(dl, name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  if (value instanceof Node) dd.appendChild(value);
  else dd.textContent = value === null || value === undefined || value === '' ? '—' : String(value);
  dl.append(dt, dd);
}

function showDetail(el, entry) {
  el.replaceChildren();
  el.hidden = !entry;
  if (!entry) return;
  const pre = document.createElement('pre');
  pre.className = 'msg-full';
  renderAnsi(pre, String(entry.message ?? ''));
  const dl = document.createElement('dl');
  field(dl, 'time', `${localTime(entry.timestamp)} (${entry.timestamp} UTC)`);
  field(dl, 'level', entry.level);
  field(dl, 'stream', entry.stream);
  field(dl, 'source', entry.source);
  field(dl, 'runner', entry.runner_id);
  field(dl, 'app', entry.app_id);
  field(dl, 'version', entry.version_id);
  if (typeof entry.request_id === 'string') {
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'req';
    open.dataset.request = entry.request_id;
    open.textContent = entry.request_id;
    field(dl, 'request', open);
  } else if (entry.unattributed === true) {
    field(dl, 'request', '? (unattributed: caught by logtap run --catch-all, writer unknown)');
  } else {
    field(dl, 'request', null);
  }
  field(dl, 'pid / tid', `${entry.pid} / ${entry.tid}` +
        (entry.unattributed === true ? ' (the catch-all forwarder\'s)' : ''));
  field(dl, 'line id', entry.id);
  el.append(pre, dl);
}

function openRequest(id) {
  const state = readHash();
  state.open = id;
  writeHash(state);
}

// ---- the request panel ----

class RequestPanel {
  constructor() {
    this.id = '';
    this.follow = null;
    this.pollTimer = null;
    this.generation = 0;
    this.status = '';
    this.skipped = false;
    this.view = new LogView($('req-list'), {
      cap: MAX_TAIL,
      showRequest: false,
      onSelect: (entry) => showDetail($('req-detail'), entry),
      onUpdate: () => updateCount(this.view, $('req-count')),
    });
  }

  open(id) {
    if (id === this.id) return;
    this.close();
    this.id = id;
    const generation = ++this.generation;
    $('request-panel').hidden = false;
    $('req-id').textContent = id;
    this.setStatus('', 'loading…');
    this.note('');
    this.view.clear();
    showDetail($('req-detail'), null);
    this.loadStatus(generation, true);
  }

  close() {
    this.generation++;
    this.stopFollow();
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.id = '';
    this.status = '';
    this.skipped = false;
    $('request-panel').hidden = true;
  }

  stopFollow() {
    if (this.follow) this.follow.stop();
    this.follow = null;
  }

  note(text) {
    $('req-note').textContent = text;
  }

  setStatus(status, text) {
    const el = $('req-status');
    el.textContent = text || status;
    el.dataset.status = status;
  }

  async loadStatus(generation, first) {
    this.pollTimer = null;
    let doc;
    try {
      doc = await apiGet(`v1/requests/${seg(this.id)}/status`, { wait: 0 });
    } catch (err) {
      if (generation !== this.generation || handleAuthFailure(err)) return;
      if (err.status === 404) {
        this.setStatus('NOT_FOUND', 'not found');
        this.note(`No request "${this.id}" that you may see.`);
        this.stopFollow();
        return;
      }
      this.note('Status unavailable: ' + err.message);
      this.schedulePoll(generation);
      return;
    }
    if (generation !== this.generation) return;
    if (first) this.startFollow(generation);
    this.updateStatus(doc.status, generation);
  }

  schedulePoll(generation) {
    if (this.pollTimer !== null || this.status === 'COMPLETED') return;
    this.pollTimer = setTimeout(() => this.loadStatus(generation, false), STATUS_POLL_MS);
  }

  updateStatus(status, generation) {
    if (this.status === 'COMPLETED') return;
    this.status = status;
    this.setStatus(status, status === 'IN_PROGRESS' ? 'IN_PROGRESS (live)' : status);
    if (status === 'COMPLETED') this.completed(generation);
    else this.schedulePoll(generation);
  }

  startFollow(generation, after = 0) {
    this.follow = new Follow(`v1/requests/${seg(this.id)}/logs`, {
      baseParams: { max_lag: MAX_LAG },
      firstParams: after ? { after } : {},
      token: getToken(),
      onEvent: (event, data) => {
        if (generation !== this.generation) return;
        if (event === 'log') this.view.append(data);
        else if (event === 'status' && data && typeof data.status === 'string') {
          this.updateStatus(data.status, generation);
        } else if (event === 'behind') {
          this.skipped = true;
          this.view.notice(behindNotice(data));
        }
      },
      onState: (state, detail) => {
        if (generation !== this.generation) return;
        if (state === 'failed') {
          if (handleAuthFailure(detail)) return;
          this.note(detail.status === 404 ? `No request "${this.id}" that you may see.`
                                          : 'Stream failed: ' + detail.message);
        } else if (state === 'ended') {
          streamEnded(detail, (reason) => {
            if (generation === this.generation) this.note('The stream ended: ' + reason + '.');
          });
        } else if (state === 'retrying') {
          this.note('Disconnected: ' + detail);
        } else if (state === 'live' && this.status !== 'COMPLETED') {
          this.note('');
        }
      },
    });
    this.follow.start();
  }

  // The request has ended: the panel now shows its complete logs, read
  // from the store after the last line the stream delivered (from the
  // start if the stream was skipped ahead), so the count is final. The
  // collector closes a request's streams after COMPLETED, so none is
  // opened again.
  async completed(generation) {
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    let after = this.skipped ? 0 : (this.follow && this.follow.lastId) || 0;
    this.stopFollow();
    if (this.skipped) this.view.clear();
    this.note('Loading the complete logs…');
    try {
      for (let loaded = 0; loaded < MAX_TAIL;) {
        const doc = await apiGet(`v1/requests/${seg(this.id)}/logs`, { after, limit: COMPLETE_PAGE });
        if (generation !== this.generation) return;
        if (doc.logs.length === 0) break;
        for (const entry of doc.logs) this.view.append(entry);
        loaded += doc.logs.length;
        after = doc.next_after;
      }
    } catch (err) {
      if (generation !== this.generation || handleAuthFailure(err)) return;
      this.note('Could not load the complete logs: ' + err.message);
      return;
    }
    this.skipped = false;
    const n = this.view.messages().length;
    this.note(n ? `Completed: ${n.toLocaleString()} line${n === 1 ? '' : 's'}.`
                : 'Completed. No lines are visible to you (callers of an app ' +
                  'with private logs see none).');
  }
}

// ---- start ----

function timeZoneLabel() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const offset = -new Date().getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const hhmm = `${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `times in ${zone} (UTC${sign}${hhmm})`;
}

function boot() {
  $('tz').textContent = timeZoneLabel();
  page.main = new LogView($('main-list'), {
    cap: MAX_TAIL,
    onRequest: openRequest,
    onSelect: (entry) => showDetail($('detail'), entry),
    onNewBelow: (n) => {
      $('jump').hidden = n === 0;
      $('jump').textContent = `↓ ${n.toLocaleString()} new`;
    },
    onUpdate: () => updateCount(page.main, $('count')),
  });
  page.panel = new RequestPanel();
  page.lists = new ListView($('list-table'), $('list-more'), $('list-count'), {
    onRunner: showRunnerLogs,
    onRequest: openRequest,
    onError: handleAuthFailure,
  });

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (token) signIn(token, true);
  });
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    writeHash({ ...readHash(), filters: formFilters() });
  });
  $('filters').addEventListener('change', () => {
    writeHash({ ...readHash(), filters: formFilters() });
  });
  $('clear-filters').addEventListener('click', () => {
    $('filters').reset();
    writeHash({ ...readHash(), filters: formFilters() });
  });
  $('list-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitListFilters();
  });
  $('list-filters').addEventListener('change', submitListFilters);
  for (const tab of $('tabs').querySelectorAll('button')) {
    tab.addEventListener('click', () => writeHash({ ...readHash(), view: tab.dataset.view }));
  }
  $('pause').addEventListener('click', togglePause);
  $('jump').addEventListener('click', () => page.main.scrollToEnd());
  $('req-close').addEventListener('click', () => openRequest(''));
  for (const id of ['detail', 'req-detail']) {
    $(id).addEventListener('click', (ev) => {
      const req = ev.target.closest('button.req');
      if (req) openRequest(req.dataset.request);
    });
  }
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('request-panel').hidden) openRequest('');
  });
  window.addEventListener('hashchange', applyHash);
  window.addEventListener('popstate', applyHash);

  const token = getToken();
  if (token) signIn(token, false);
  else showSignIn('');
}

boot();
