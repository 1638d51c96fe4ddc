// sse.js -- one follow stream (text/event-stream) that survives reconnects.
//
// Owns: reading a follow response with fetch() and a stream reader,
// parsing server-sent events, and reconnecting where it left off.
// EventSource cannot send an Authorization header, hence fetch().
//
// Invariants:
// - lastId is the highest position the client has fully seen: the id of
//   the last `log` event, or a `behind` event's resume_after (the server
//   continues after it). A reconnect asks for `after=lastId`, so it neither
//   repeats nor skips a line (doc/http-api.md, "Follow").
// - Only one connection at a time; stop() aborts it and cancels any
//   pending reconnect, and no callback fires after stop().
// - Failures that a retry cannot fix (401, 400, 403, 404) end the stream
//   and are reported once, and so does an `event: end` (the server closing
//   the stream on purpose: a revoked token, withdrawn access); network
//   errors, 5xx and a closed stream are retried with a growing delay
//   (RETRY_MIN_MS doubling to RETRY_MAX_MS), reset once data flows again.

import { apiUrl, authHeaders, errorOf } from './api.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;

export class Follow {
  // path: e.g. "v1/logs"; params: query parameters of the first connect
  // (e.g. tail); reconnects replace them with after=lastId.
  // handlers: onEvent(name, data, id) for every event (data parsed as
  // JSON), onState(state, detail) with state one of 'connecting', 'live',
  // 'retrying', 'failed' (detail: an ApiError) or 'ended' (detail: the
  // server's reason).
  constructor(path, { baseParams, firstParams, token, onEvent, onState }) {
    this.path = path;
    this.baseParams = baseParams;
    this.firstParams = firstParams || {};
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.controller = null;
    this.retryTimer = null;
    this.retryDelay = RETRY_MIN_MS;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  url() {
    const resume = this.lastId === null ? this.firstParams : { after: this.lastId };
    return apiUrl(this.path, { ...this.baseParams, ...resume, follow: 1 });
  }

  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    const live = () => !this.stopped && this.controller === controller;
    this.onState('connecting', this.lastId === null ? '' : `resuming after line ${this.lastId}`);
    let response;
    try {
      response = await fetch(this.url(), {
        headers: { Accept: 'text/event-stream', ...authHeaders(this.token) },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch (err) {
      if (live()) this.retry('cannot reach the collector');
      return;
    }
    if (!live()) return;
    if (!response.ok) {
      const err = await errorOf(response);
      if (!live()) return;
      if (response.status >= 500) this.retry(err.message);
      else {
        this.stopped = true;
        this.onState('failed', err);
      }
      return;
    }
    this.onState('live', '');
    try {
      await this.read(response.body, live);
    } catch (err) {
      if (live()) this.retry('connection lost');
      return;
    }
    if (live()) this.retry('the server closed the stream');
  }

  retry(reason) {
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    this.onState('retrying', `${reason}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  // Server-sent events as the HTML standard parses them: lines end in LF,
  // CR LF or CR; "field: value" (one optional space after the colon);
  // lines starting with ':' are comments; a blank line dispatches.
  async read(body, live) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let data = [];
    let event = '';
    let id = null;
    const lineEnd = /\r\n|\r|\n/g;
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !live()) {
        if (!live()) reader.cancel().catch(() => {});
        return;
      }
      this.retryDelay = RETRY_MIN_MS;
      buffer += value;
      let start = 0;
      lineEnd.lastIndex = 0;
      for (let m = lineEnd.exec(buffer); m !== null; m = lineEnd.exec(buffer)) {
        // A CR at the very end may be the first half of CR LF: wait for more.
        if (m[0] === '\r' && m.index === buffer.length - 1) break;
        const line = buffer.slice(start, m.index);
        start = lineEnd.lastIndex;
        if (line === '') {
          if (data.length > 0) this.dispatch(event || 'message', data.join('\n'), id);
          data = [];
          event = '';
          id = null;
          if (!live()) return;
          continue;
        }
        if (line[0] === ':') continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let fieldValue = colon < 0 ? '' : line.slice(colon + 1);
        if (fieldValue[0] === ' ') fieldValue = fieldValue.slice(1);
        if (field === 'data') data.push(fieldValue);
        else if (field === 'event') event = fieldValue;
        else if (field === 'id' && fieldValue.indexOf('\0') < 0) id = fieldValue;
      }
      buffer = buffer.slice(start);
    }
  }

  dispatch(event, text, id) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (_) {
      return; // not ours to guess at
    }
    if (event === 'log' && data && Number.isSafeInteger(data.id)) this.lastId = data.id;
    else if (event === 'behind' && data && Number.isSafeInteger(data.resume_after)) {
      this.lastId = data.resume_after;
    } else if (id !== null && /^[0-9]+$/.test(id)) {
      this.lastId = Number(id);
    }
    this.onEvent(event, data, id);
    if (event === 'end') { // the server closes the stream, and says why: no reconnect
      this.stop();
      this.onState('ended', data && typeof data.reason === 'string' ? data.reason : 'the stream ended');
    }
  }
}
