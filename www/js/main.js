// The console's shell: the header (navigation, vhost selector, refresh, user, logout), the
// routes, and the life of a page: each route loads its module from pages/, which renders
// into a fresh element and registers its timers, stopped when the user moves on.

import { session } from './api.js';
import { h, replace } from './dom.js';
import { clearStale, showError } from './components/banner.js';
import { vhostSelector } from './components/vhost.js';
import { match, segments } from './router.js';

const routes = [
  { path: 'login', page: 'login', public: true },
  { path: '', page: 'overview', tab: 'overview' },
  { path: 'connections', page: 'connections', tab: 'connections' },
  { path: 'connections/:name', page: 'connection', tab: 'connections' },
  { path: 'channels', page: 'channels', tab: 'channels' },
  { path: 'channels/:name', page: 'channel', tab: 'channels' },
  { path: 'exchanges', page: 'exchanges', tab: 'exchanges' },
  { path: 'exchanges/:vhost/:name', page: 'exchange', tab: 'exchanges' },
  { path: 'queues', page: 'queues', tab: 'queues' },
  { path: 'queues/:vhost/:name', page: 'queue', tab: 'queues' },
  { path: 'users', page: 'users', tab: 'admin' },
  { path: 'users/:name', page: 'user', tab: 'admin' },
  { path: 'vhosts', page: 'vhosts', tab: 'admin' },
  { path: 'vhosts/:name', page: 'vhost', tab: 'admin' },
  { path: 'policies', page: 'policies', tab: 'admin' },
  { path: 'definitions', page: 'definitions', tab: 'admin' },
];

const REFRESH_KEY = 'warren.refresh';
let current = null; // {cleanup: [fn], route}
let vhostSel = null;

function refreshInterval() {
  return Number(localStorage.getItem(REFRESH_KEY) ?? 5000);
}

function header(route) {
  const top = document.getElementById('top');
  if (route.public) {
    top.hidden = true;
    vhostSel = null; // the next user may see other vhosts
    return;
  }
  top.hidden = false;
  const tab = (name, label, href = `#/${name}`) =>
    h('a', { href, testid: `nav-${name}`, class: route.tab === name ? 'active' : '' }, label);
  if (!vhostSel) vhostSel = vhostSelector(() => render());
  const refresh = h('select', {
    testid: 'refresh-select', 'aria-label': 'Refresh',
    onchange: () => { localStorage.setItem(REFRESH_KEY, refresh.value); render(); },
  }, [[5000, 'every 5 s'], [10000, 'every 10 s'], [30000, 'every 30 s'], [0, 'manually']].map(([v, label]) =>
    h('option', { value: v, selected: v === refreshInterval() }, `Refresh ${label}`)));
  replace(top,
    h('a', { class: 'brand', href: '#/' }, h('img', { src: 'img/warren.svg', alt: '' }), 'Warren'),
    h('nav', { testid: 'nav' },
      tab('overview', 'Overview', '#/'), tab('connections', 'Connections'), tab('channels', 'Channels'),
      tab('exchanges', 'Exchanges'), tab('queues', 'Queues'),
      session.isAdmin() ? tab('admin', 'Admin', '#/users') : null,
      !session.isAdmin() && session.hasTag('policymaker') ? tab('admin', 'Policies', '#/policies') : null),
    h('div', { class: 'who' },
      h('label', {}, 'Virtual host ', vhostSel.el),
      refresh,
      h('span', { class: 'user', testid: 'current-user' }, session.user?.name || ''),
      h('button', { type: 'button', class: 'small', testid: 'logout', onclick: logout }, 'Log out')));
}

export function logout() {
  session.clear();
  vhostSel = null;
  location.hash = '#/login';
}

/** Renders the page the hash names. */
async function render() {
  for (const fn of current?.cleanup || []) fn();
  const segs = segments();
  const found = match(routes, segs);
  const main = document.getElementById('main');
  if (!found) {
    header({ page: 'not-found' });
    replace(main, h('div', { class: 'page', testid: 'page-not-found' }, h('h1', {}, 'Not found'),
      h('p', {}, 'No page here. '), h('a', { href: '#/' }, 'Back to the overview')));
    return;
  }
  const { route, params } = found;
  if (!route.public && !session.user) {
    sessionStorage.setItem('warren.after-login', location.hash);
    location.hash = '#/login';
    return;
  }
  const me = { cleanup: [], route };
  current = me;
  header(route);
  const root = h('div', { class: 'page', testid: `page-${route.page}` });
  replace(main, root);
  const ctx = {
    root,
    params,
    rerender: render,
    alive: () => current === me,
    onCleanup: (fn) => me.cleanup.push(fn),
    /** Calls fn every refresh interval (as set in the header) while the page is shown. */
    every(fn) {
      const ms = refreshInterval();
      if (!ms) return;
      const t = setInterval(() => { if (!document.hidden) fn(); }, ms);
      me.cleanup.push(() => clearInterval(t));
    },
    vhosts: () => vhostSel?.reload(),
  };
  try {
    const mod = await import(`./pages/${route.page}.js`);
    if (current !== me) return;
    await mod.default(ctx);
    root.dataset.ready = 'true';
  } catch (e) {
    if (current === me) showError(e);
  }
}

window.addEventListener('hashchange', () => {
  clearStale();
  render();
});
render();
