// logview.js -- a virtualized list of log lines.
//
// Owns: the lines one list holds, and the few DOM rows that show them.
//
// Why virtualized: at 1,000 lines/s, a list that made a DOM node per line
// would hold 10,000 nodes after ten seconds and relayout them on every
// append. Here every row has the same height (ROW_HEIGHT, matched by
// .row in style.css), so the list is a spacer as tall as all lines and a
// window of absolutely positioned rows for the visible ones (plus
// OVERSCAN above and below); scrolling and appending only refill those
// rows. Appends are batched into one update per animation frame.
//
// Limits: the list keeps the newest `cap` lines (default 50,000); older
// ones are dropped from the top (they stay in the store). A row shows one
// line of text, cut with an ellipsis; selecting it shows the whole line.
//
// Invariants: `entries` is in arrival order; rows[k] shows
// entries[first + k]; `sticky` is true while the view is scrolled to the
// bottom, and then new lines keep it there (a user who scrolls up stays
// where they are, and is told how many lines arrived below).

import { renderAnsi } from './ansi.js';

export const ROW_HEIGHT = 20;
const OVERSCAN = 10;
const ROW_TEXT_LIMIT = 2000; // characters rendered in a row; the detail shows all

const pad = (n, width = 2) => String(n).padStart(width, '0');

// "2026-11-25T14:38:06.123456Z" -> "2026-11-25 15:38:06.123" in the
// viewer's time zone. Invalid input is shown as given.
export function localTime(timestamp) {
  const date = new Date(typeof timestamp === 'string' ? timestamp.replace(/(\.\d{3})\d+/, '$1') : NaN);
  if (Number.isNaN(date.getTime())) return String(timestamp);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
         `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.` +
         `${pad(date.getMilliseconds(), 3)}`;
}

const LEVELS = new Set(['TRACE', 'DEBUG', 'INFO', 'STDOUT', 'WARN', 'STDERR', 'ERROR']);

export class LogView {
  // container: an empty element; handlers: onRequest(id) when a request ID
  // is clicked, onSelect(entry) when a line is, onNewBelow(count) when the
  // number of lines below the view changes while not sticky, onUpdate()
  // after each redraw.
  constructor(container, { cap = 50000, showRequest = true, onRequest, onSelect, onNewBelow,
                           onUpdate } = {}) {
    this.container = container;
    this.cap = cap;
    this.showRequest = showRequest;
    this.onRequest = onRequest || (() => {});
    this.onSelect = onSelect || (() => {});
    this.onNewBelow = onNewBelow || (() => {});
    this.onUpdate = onUpdate || (() => {});
    this.entries = [];
    this.pending = [];
    this.rows = [];
    this.first = 0;
    this.sticky = true;
    this.unseen = 0;
    this.selected = null;
    this.frame = 0;

    container.classList.add('loglist');
    container.setAttribute('role', 'log');
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer';
    this.window = document.createElement('div');
    this.window.className = 'rows';
    this.spacer.appendChild(this.window);
    container.appendChild(this.spacer);

    container.addEventListener('scroll', () => {
      this.sticky = container.scrollTop + container.clientHeight >= container.scrollHeight - ROW_HEIGHT;
      if (this.sticky && this.unseen) {
        this.unseen = 0;
        this.onNewBelow(0);
      }
      this.schedule();
    }, { passive: true });
    container.addEventListener('click', (ev) => this.click(ev));
    if (window.ResizeObserver) new ResizeObserver(() => this.schedule()).observe(container);
  }

  get length() {
    return this.entries.length + this.pending.length;
  }

  append(entry) {
    this.pending.push(entry);
    // A tab that cannot draw (hidden) still must not grow without bound.
    if (this.pending.length > this.cap) this.pending.splice(0, this.pending.length - this.cap);
    this.schedule();
  }

  // A line of the page's own (a gap, a reconnect), shown in the list.
  notice(text) {
    this.append({ notice: text });
  }

  clear() {
    this.entries = [];
    this.pending = [];
    this.selected = null;
    this.sticky = true;
    this.unseen = 0;
    this.onNewBelow(0);
    this.container.scrollTop = 0;
    this.schedule();
  }

  scrollToEnd() {
    this.sticky = true;
    this.unseen = 0;
    this.onNewBelow(0);
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = 0;
      this.update();
    });
  }

  update() {
    const c = this.container;
    if (this.pending.length) {
      const added = this.pending.length;
      for (const entry of this.pending) this.entries.push(entry);
      this.pending = [];
      const excess = this.entries.length - this.cap;
      if (excess > 0) {
        this.entries.splice(0, excess);
        if (!this.sticky) c.scrollTop = Math.max(0, c.scrollTop - excess * ROW_HEIGHT);
      }
      if (!this.sticky) {
        this.unseen += added;
        this.onNewBelow(this.unseen);
      }
    }
    const total = this.entries.length;
    this.spacer.style.height = total * ROW_HEIGHT + 'px';
    if (this.sticky) c.scrollTop = c.scrollHeight;

    const visible = Math.ceil(c.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const first = Math.max(0, Math.min(Math.floor(c.scrollTop / ROW_HEIGHT) - OVERSCAN,
                                       total - visible));
    const count = Math.min(visible, total - first);
    while (this.rows.length < count) {
      const row = document.createElement('div');
      row.className = 'row';
      this.window.appendChild(row);
      this.rows.push(row);
    }
    while (this.rows.length > count) this.window.removeChild(this.rows.pop());
    this.first = first;
    this.window.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    for (let k = 0; k < count; k++) {
      const entry = this.entries[first + k];
      const row = this.rows[k];
      if (row.entry !== entry) this.fill(row, entry);
      row.classList.toggle('selected', entry === this.selected);
    }
    this.onUpdate();
  }

  fill(row, entry) {
    row.entry = entry;
    row.replaceChildren();
    if (entry.notice !== undefined) {
      row.className = 'row notice';
      row.textContent = entry.notice;
      return;
    }
    const level = LEVELS.has(entry.level) ? entry.level : 'STDOUT';
    row.className = `row lvl-${level}` + (entry.stream === 'stderr' ? ' stderr' : '');

    const ts = document.createElement('span');
    ts.className = 'ts';
    ts.textContent = localTime(entry.timestamp);
    ts.title = String(entry.timestamp) + ' (UTC)';
    const lvl = document.createElement('span');
    lvl.className = 'lvl';
    lvl.textContent = level;
    const runner = document.createElement('span');
    runner.className = 'runner';
    runner.textContent = String(entry.runner_id ?? '');
    runner.title = `runner ${entry.runner_id}\napp ${entry.app_id || '-'}\nversion ${entry.version_id || '-'}\nsource ${entry.source || '-'}`;
    row.append(ts, lvl, runner);
    if (this.showRequest) {
      if (typeof entry.request_id === 'string') {
        const req = document.createElement('button');
        req.type = 'button';
        req.className = 'req';
        req.textContent = entry.request_id;
        req.title = 'open request ' + entry.request_id;
        req.dataset.request = entry.request_id;
        row.append(req);
      } else {
        const none = document.createElement('span');
        none.className = 'req none';
        row.append(none);
      }
    }
    const msg = document.createElement('span');
    msg.className = 'msg';
    const text = String(entry.message ?? '');
    renderAnsi(msg, text.length > ROW_TEXT_LIMIT ? text.slice(0, ROW_TEXT_LIMIT) + '…' : text);
    row.append(msg);
  }

  click(ev) {
    const req = ev.target.closest('button.req');
    if (req && req.dataset.request !== undefined) {
      ev.stopPropagation();
      this.onRequest(req.dataset.request);
      return;
    }
    const row = ev.target.closest('.row');
    if (!row || !row.entry || row.entry.notice !== undefined) return;
    this.selected = row.entry === this.selected ? null : row.entry;
    this.onSelect(this.selected);
    this.schedule();
  }

  // The lines the list holds (tests and the detail view read them).
  messages() {
    return this.entries.concat(this.pending).filter((e) => e.notice === undefined)
      .map((e) => e.message);
  }
}
