// lists.js -- the runners and requests views: tables of GET /v1/runners and
// GET /v1/requests (doc/http-api.md, "Lists"), newest first, a page at a
// time through the server's opaque cursor ("More").
//
// Owns: the tables and their paging. The server decides which rows the
// signed-in user may see; the table shows what comes back. Every ID is
// text in a button (never HTML): a runner's opens its logs, a request's
// opens the request panel; app.js says what those do.

import { apiGet } from './api.js';
import { localTime } from './logview.js';

const PAGE = 100;

const COLUMNS = {
  runners: [
    ['runner', 'runner_id', 'runner'],
    ['app', 'app_id'],
    ['version', 'version_id'],
    ['source', 'source'],
    ['started', 'started', 'time'],
    ['last seen', 'last_seen', 'time'],
    ['lines', 'lines'],
  ],
  requests: [
    ['request', 'request_id', 'request'],
    ['state', 'state', 'state'],
    ['app', 'app_id'],
    ['version', 'version_id'],
    ['runner', 'runner_id', 'runner'],
    ['caller', 'caller'],
    ['started', 'started', 'time'],
    ['ended', 'ended', 'time'],
    ['lines', 'lines'],
  ],
};

export class ListView {
  // onRunner(id), onRequest(id): a runner's or a request's ID was clicked.
  // onError(err): a page could not be loaded (a 401 signs out).
  constructor(table, more, count, { onRunner, onRequest, onError }) {
    this.table = table;
    this.more = more;
    this.count = count;
    this.handlers = { onRunner, onRequest, onError };
    this.generation = 0;
    this.kind = '';
    this.params = {};
    this.cursor = null;
    this.rows = 0;
    this.table.addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-id]');
      if (!button) return;
      if (button.dataset.kind === 'runner') this.handlers.onRunner(button.dataset.id);
      else this.handlers.onRequest(button.dataset.id);
    });
    this.more.addEventListener('click', () => this.load(this.generation));
  }

  // kind: 'runners' or 'requests'; params: the filters to send.
  show(kind, params) {
    const generation = ++this.generation;
    this.kind = kind;
    this.params = { ...params };
    this.cursor = null;
    this.rows = 0;
    this.table.replaceChildren(this.header());
    this.table.dataset.kind = kind;
    this.more.hidden = true;
    this.count.textContent = 'loading…';
    this.load(generation);
  }

  stop() {
    this.generation++;
  }

  header() {
    const thead = document.createElement('thead');
    const tr = document.createElement('tr');
    for (const [title] of COLUMNS[this.kind]) {
      const th = document.createElement('th');
      th.textContent = title;
      tr.appendChild(th);
    }
    thead.appendChild(tr);
    return thead;
  }

  async load(generation) {
    if (generation !== this.generation) return;
    const params = { ...this.params, limit: PAGE };
    if (this.cursor) params.cursor = this.cursor;
    let doc;
    try {
      doc = await apiGet('v1/' + this.kind, params);
    } catch (err) {
      if (generation !== this.generation) return;
      this.count.textContent = 'error: ' + err.message;
      this.handlers.onError(err);
      return;
    }
    if (generation !== this.generation) return;
    const tbody = document.createElement('tbody');
    for (const item of doc[this.kind] || []) tbody.appendChild(this.row(item));
    this.table.appendChild(tbody);
    this.rows += (doc[this.kind] || []).length;
    this.cursor = typeof doc.next_cursor === 'string' ? doc.next_cursor : null;
    this.more.hidden = this.cursor === null;
    const noun = this.kind === 'runners' ? 'runner' : 'request';
    this.count.textContent = `${this.rows.toLocaleString()} ${noun}${this.rows === 1 ? '' : 's'}` +
                             (this.cursor ? ' (more below)' : '');
  }

  row(item) {
    const tr = document.createElement('tr');
    for (const [, key, how] of COLUMNS[this.kind]) {
      const td = document.createElement('td');
      const value = item[key];
      if ((how === 'runner' || how === 'request') && typeof value === 'string' && value) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'link';
        button.dataset.kind = how;
        button.dataset.id = value;
        button.textContent = value;
        button.title = how === 'runner' ? 'show this runner\'s logs' : 'open this request';
        td.appendChild(button);
      } else if (how === 'time' && typeof value === 'string') {
        td.textContent = localTime(value);
        td.title = value + ' (UTC)';
      } else {
        td.textContent = value === null || value === undefined || value === '' ? '—' : String(value);
        if (how === 'state') td.dataset.state = String(value);
      }
      tr.appendChild(td);
    }
    return tr;
  }
}
