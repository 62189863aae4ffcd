// The vhost selector: the vhost lists are shown for ('' = all of them), kept per tab.

import { names } from '../api.js';
import { h, replace } from '../dom.js';

const KEY = 'warren.vhost';

export function currentVhost() {
  return sessionStorage.getItem(KEY) || '';
}

/** '/queues' or '/queues/%2F' for the selected vhost. */
export function listPath(kind) {
  const v = currentVhost();
  return v ? `/${kind}/${encodeURIComponent(v)}` : `/${kind}`;
}

/** A <select> of "All" and every vhost the user can see; calls onChange on a change. */
export function vhostSelector(onChange) {
  const sel = h('select', {
    testid: 'vhost-select', 'aria-label': 'Virtual host',
    onchange: () => {
      sessionStorage.setItem(KEY, sel.value);
      onChange();
    },
  });
  async function load() {
    let list = [];
    try {
      list = await names('/vhosts');
    } catch {
      // The page itself will show the API's error.
    }
    const cur = currentVhost();
    if (cur && !list.some((v) => v.name === cur)) sessionStorage.removeItem(KEY);
    replace(sel, h('option', { value: '' }, 'All'),
      list.map((v) => h('option', { value: v.name, selected: v.name === cur }, v.name)));
  }
  load();
  return { el: sel, reload: load };
}

/** Vhost names for a form's select, the selected one first. */
export async function vhostOptions() {
  const list = (await names('/vhosts')).map((v) => v.name);
  const cur = currentVhost() || '/';
  return [cur, ...list.filter((v) => v !== cur)].filter((v) => list.includes(v));
}


/** Forgets the selected vhost if it is `name` (deleted). */
export function forgetVhost(name) {
  if (currentVhost() === name) sessionStorage.removeItem(KEY);
}
