// The "Features" cell of queue and exchange lists: short badges as in RabbitMQ's UI.

import { h } from '../dom.js';
import { table } from '../format.js';

export function features(o) {
  const args = o.arguments && Object.keys(o.arguments).length ? o.arguments : null;
  return h('span', { class: 'features' },
    o.durable ? h('abbr', { class: 'badge', title: 'durable' }, 'D') : null,
    o.auto_delete ? h('abbr', { class: 'badge', title: 'auto-delete' }, 'AD') : null,
    o.exclusive ? h('abbr', { class: 'badge', title: 'exclusive' }, 'Excl') : null,
    o.internal ? h('abbr', { class: 'badge', title: 'internal' }, 'I') : null,
    args ? h('abbr', { class: 'badge', title: table(args) }, 'Args') : null,
    o.policy ? h('span', { class: 'badge policy', title: 'policy' }, o.policy) : null);
}
