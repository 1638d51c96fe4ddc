// api.js -- the page's side of doc/http-api.md: URLs, the token, JSON calls.
//
// Owns: where the API is (the collector that served this page: "/ui/" is
// one level below the API root, so a collector behind a path prefix works
// too), the API token of this tab, and turning HTTP failures into ApiError
// with the server's own message.
//
// The token lives in sessionStorage: it survives a reload of this tab and
// dies with it; other tabs and later visits must sign in again. It is sent
// only as an Authorization header, never in a URL (URLs end up in history,
// logs and shared links).

const TOKEN_KEY = 'logtap.token';

export const apiRoot = new URL('../', window.location.href);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getToken() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

// path like "v1/logs" (no leading slash: relative to apiRoot); params is an
// object whose null, undefined and '' values are left out.
export function apiUrl(path, params = {}) {
  const url = new URL(path, apiRoot);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, String(value));
  }
  return url;
}

export function authHeaders(token = getToken()) {
  return token ? { Authorization: 'Bearer ' + token } : {};
}

// The error message a failed response carries ({"error": "..."}), or a
// generic one naming the status.
export async function errorOf(response) {
  let message = `HTTP ${response.status}`;
  try {
    const doc = await response.json();
    if (doc && typeof doc.error === 'string') message = doc.error;
  } catch (_) {
    // not JSON: keep the generic message
  }
  return new ApiError(response.status, message);
}

export async function apiGet(path, params = {}, { token, signal } = {}) {
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      headers: { Accept: 'application/json', ...authHeaders(token) },
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'cannot reach the collector (' + err.message + ')');
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

// A path segment for an ID: IDs may hold any printable ASCII but '/'.
export function seg(id) {
  return encodeURIComponent(id);
}
