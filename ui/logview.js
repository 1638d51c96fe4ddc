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
// Invariants: `entries` is in arrival order; a line's sequence number is
// its index plus `base`, and never changes or is reused (dropping lines
// from the top raises base), so a row showing sequence number s shows
// entries[s - base] for as long as it stays in view: a frame refills only
// the rows that scrolled in; `sticky` is true while the view is scrolled to the
// bottom, and then new lines keep it there (a user who scrolls up stays
// where they are, and is told how many lines arrived below).

import { renderAnsi } from './ansi.js';

export const ROW_HEIGHT = 20;
const OVERSCAN = 10;
const APPEND_INTERVAL_MS = 100; // new lines are drawn at most this often
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
    this.rows = [];   // the DOM rows, in order; row.seq is the line's sequence number
    this.base = 0;    // sequence number of entries[0]; lines dropped or cleared count on
    this.sticky = true;
    this.unseen = 0;
    this.selected = null;
    this.frame = 0;
    this.appendTimer = 0;
    this.lastDraw = 0;
    this.ownScrollTop = -1;

    container.classList.add('loglist');
    container.setAttribute('role', 'log');
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer';
    this.window = document.createElement('div');
    this.window.className = 'rows';
    this.spacer.appendChild(this.window);
    container.appendChild(this.spacer);

    container.addEventListener('scroll', () => {
      if (container.scrollTop === this.ownScrollTop) return; // our own move to the bottom
      this.ownScrollTop = -1;
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
    this.scheduleAppend();
  }

  // A line of the page's own (a gap, a reconnect), shown in the list.
  notice(text) {
    this.append({ notice: text });
  }

  clear() {
    this.base += this.entries.length;
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

  // Arrivals redraw at most every APPEND_INTERVAL_MS: drawing a moving
  // list costs a repaint of all of it, and ten updates a second read as
  // smooth as sixty. Scrolling and resizing redraw on the next frame.
  scheduleAppend() {
    if (this.frame || this.appendTimer) return;
    const wait = this.lastDraw + APPEND_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.schedule();
      return;
    }
    this.appendTimer = setTimeout(() => {
      this.appendTimer = 0;
      this.schedule();
    }, wait);
  }

  schedule() {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = 0;
      this.update();
    });
  }

  update() {
    this.lastDraw = performance.now();
    const c = this.container;
    if (this.pending.length) {
      const added = this.pending.length;
      for (const entry of this.pending) this.entries.push(entry);
      this.pending = [];
      const excess = this.entries.length - this.cap;
      if (excess > 0) {
        this.entries.splice(0, excess);
        this.base += excess;
        if (!this.sticky) c.scrollTop = Math.max(0, c.scrollTop - excess * ROW_HEIGHT);
      }
      if (!this.sticky) {
        this.unseen += added;
        this.onNewBelow(this.unseen);
      }
    }
    const total = this.entries.length;
    this.spacer.style.height = total * ROW_HEIGHT + 'px';
    if (this.sticky && c.scrollTop + c.clientHeight < c.scrollHeight) {
      c.scrollTop = c.scrollHeight;
      this.ownScrollTop = c.scrollTop;
    }

    // The window of lines to show, as sequence numbers (base + index).
    const visible = Math.ceil(c.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const first = Math.max(0, Math.min(Math.floor(c.scrollTop / ROW_HEIGHT) - OVERSCAN,
                                       total - visible));
    const from = this.base + first;
    const to = from + Math.min(visible, total - first);

    // Rows still showing a line in the window keep it; the others are
    // refilled with the lines that came into view. Rows stay in DOM order
    // (the order a screen reader reads), moving only the refilled ones.
    const keep = new Map();
    const free = [];
    for (const row of this.rows) {
      if (row.seq >= from && row.seq < to) keep.set(row.seq, row);
      else free.push(row);
    }
    const rows = [];
    for (let seq = from; seq < to; seq++) {
      let row = keep.get(seq);
      if (row === undefined) {
        row = free.pop() || document.createElement('div');
        row.seq = seq;
        this.fill(row, this.entries[seq - this.base]);
      }
      row.classList.toggle('selected', row.entry === this.selected);
      rows.push(row);
    }
    for (const row of free) row.remove();
    let cursor = this.window.firstChild;
    for (const row of rows) {
      if (row === cursor) cursor = cursor.nextSibling;
      else this.window.insertBefore(row, cursor);
    }
    this.rows = rows;
    this.window.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
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
        if (entry.unattributed === true) {
          // Caught by `logtap run --catch-all` from a writer no one knows.
          none.textContent = '?';
          none.title = 'unattributed: caught by logtap run --catch-all, writer unknown';
        }
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
