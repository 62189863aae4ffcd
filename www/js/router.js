// The hash router: '#/queues/%2F/orders' matches the route 'queues/:vhost/:name' and gives
// {vhost: '/', name: 'orders'}. Routes are tried in order; the first match wins.

/** Splits and decodes the hash into path segments. */
export function segments(hash = location.hash) {
  const path = hash.replace(/^#\/?/, '').split('?')[0];
  if (!path) return [];
  return path.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

/** The first route whose pattern matches, with its params; null when none does. */
export function match(routes, segs) {
  for (const r of routes) {
    const parts = r.path ? r.path.split('/') : [];
    if (parts.length !== segs.length) continue;
    const params = {};
    const ok = parts.every((part, i) => {
      if (part.startsWith(':')) {
        params[part.slice(1)] = segs[i];
        return true;
      }
      return part === segs[i];
    });
    if (ok) return { route: r, params };
  }
  return null;
}
