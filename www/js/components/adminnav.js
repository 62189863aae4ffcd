// The Admin section's own navigation.

import { h } from '../dom.js';

const ITEMS = [['users', 'Users'], ['vhosts', 'Virtual hosts'], ['policies', 'Policies'], ['definitions', 'Definitions']];

export function adminNav(active) {
  return h('nav', { class: 'subnav', testid: 'admin-nav' },
    ITEMS.map(([page, label]) => h('a', { href: `#/${page}`, testid: `admin-${page}`, class: page === active ? 'active' : '' }, label)));
}
