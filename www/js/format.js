// How numbers, sizes, rates and times are shown.

const nf = new Intl.NumberFormat('en');

export function num(n) {
  return n === undefined || n === null ? '' : nf.format(n);
}

export function rate(details) {
  const r = details && typeof details.rate === 'number' ? details.rate : null;
  if (r === null) return '';
  return `${r >= 10 || r === 0 ? Math.round(r) : r.toFixed(1)}/s`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** A `*_oct_details` rate as bytes per second. */
export function byteRate(details) {
  return details && typeof details.rate === 'number' ? `${bytes(Math.round(details.rate))}/s` : '';
}

export function yesNo(b) {
  return b ? 'yes' : 'no';
}

export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

/** Pretty-printed JSON. */
export function json(v) {
  return JSON.stringify(v, null, 2);
}

/** Arguments or client properties as "k: v" lines. */
export function table(obj) {
  if (!obj || typeof obj !== 'object') return '';
  return Object.entries(obj)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('\n');
}
