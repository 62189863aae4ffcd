// The management API client: every call goes through `api`, which adds HTTP basic auth from
// the session's credentials (sessionStorage, so they last as long as the tab) and turns a
// failed call into an ApiError carrying the API's `reason`. A 401 "Login failed" ends the
// session and sends the user back to the login page.

const KEY = 'warren.credentials';

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

export const session = {
  get user() {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  },
  save(name, password, tags) {
    sessionStorage.setItem(KEY, JSON.stringify({ name, password, tags }));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  hasTag(tag) {
    return (this.user?.tags || []).includes(tag);
  },
  isAdmin() {
    return this.hasTag('administrator');
  },
};

/** `Basic base64(utf8(name:password))`; btoa alone fails on non-Latin-1 characters. */
function basic(name, password) {
  const bytes = new TextEncoder().encode(`${name}:${password}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

/**
 * Calls `/api<path>`. `body` is sent as JSON; `headers` are added; `credentials` overrides
 * the session's (used by the login form). Resolves to the parsed JSON (null for no body).
 */
export async function api(method, path, { body, headers = {}, credentials } = {}) {
  const who = credentials || session.user;
  const h = { ...headers };
  if (who) h.Authorization = basic(who.name, who.password);
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    // credentials: 'omit' keeps the browser from showing its own login prompt on a 401.
    res = await fetch('/api' + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `The broker cannot be reached (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (res.ok) return data;
  const reason = reasonOf(data) || res.statusText;
  const err = new ApiError(res.status, data?.error, reason);
  if (res.status === 401 && data?.error === 'not_authorized' && !credentials) {
    session.clear();
    sessionStorage.setItem('warren.login-reason', 'Your session ended: ' + reason);
    sessionStorage.setItem('warren.after-login', location.hash);
    location.hash = '#/login';
  }
  throw err;
}

/** RabbitMQ's reason is usually a string, sometimes a list or an object. */
function reasonOf(data) {
  if (!data || typeof data !== 'object') return typeof data === 'string' ? data : null;
  const r = data.reason ?? data.error;
  if (r === undefined || r === null) return null;
  return typeof r === 'string' ? r : JSON.stringify(r);
}

/** A path with encoded segments: p`/queues/${vhost}/${name}` -> /queues/%2F/name. */
export function p(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

/** Query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

/** Fetches every page of a list (for selectors: vhosts, users), names only by default. */
export async function names(path, columns = 'name') {
  const res = await api('GET', path + qs({ columns }));
  return Array.isArray(res) ? res : res.items;
}
