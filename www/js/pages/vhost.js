// One virtual host: its permissions and topic permissions, limits, and deleting it.

import { api, names, p } from '../api.js';
import { facts, h, replace, section } from '../dom.js';
import { num } from '../format.js';
import { adminNav } from '../components/adminnav.js';
import { actionButton, form } from '../components/form.js';
import { permissionsPanels } from '../components/permissions.js';
import { forgetVhost } from '../components/vhost.js';

const LIMITS = [['max-connections', 'Max connections'], ['max-queues', 'Max queues']];

export default async function vhost(ctx) {
  const { name } = ctx.params;
  const v = await api('GET', p`/vhosts/${name}`);
  const users = (await names('/users').catch(() => [])).map((u) => u.name);
  const limits = h('div', { testid: 'vhost-limits' });
  ctx.root.append(adminNav('vhosts'), h('h1', {}, 'Virtual host ', h('span', { class: 'name', testid: 'vhost-name' }, name)),
    section('Details', 'details-section', facts([
      ['Description', v.description || null], ['Tags', (v.tags || []).join(', ') || null],
      ['Ready', num(v.messages_ready)], ['Unacked', num(v.messages_unacknowledged)],
      ['State', Object.entries(v.cluster_state || {}).map(([n, s]) => `${n}: ${s}`).join(', ')],
    ])));

  const perms = permissionsPanels({ kind: 'vhost', name }, users);
  await perms.reload();
  ctx.root.append(...perms.els);

  async function loadLimits() {
    const [l] = await api('GET', p`/vhost-limits/${name}`);
    const value = l?.value || {};
    replace(limits, facts(LIMITS.map(([k, label]) => [label, value[k] === undefined ? 'none'
      : h('span', {}, `${num(value[k])} `, actionButton({
        label: 'Clear', small: true, testid: `clear-limit-${k}`,
        run: async () => { await api('DELETE', p`/vhost-limits/${name}/${k}`); await loadLimits(); },
        success: `${label} cleared`,
      }))]), 'limits-table'));
  }
  await loadLimits();
  ctx.root.append(section('Limits', 'limits-section', limits, form({
    testid: 'set-limit', submit: 'Set limit', inline: true,
    fields: [
      { name: 'limit', label: 'Limit', type: 'select', options: LIMITS },
      { name: 'value', label: 'Value', type: 'number', required: true, help: '-1 means no limit' },
    ],
    async onSubmit(f) {
      await api('PUT', p`/vhost-limits/${name}/${f.limit}`, { body: { value: f.value } });
      await loadLimits();
      return f.limit;
    },
    success: (k) => `Limit ${k} set`,
  })), section('Delete this virtual host', 'danger-section', actionButton({
    label: 'Delete virtual host', testid: 'delete', danger: true,
    confirm: `Delete the virtual host ${name}, with all its queues, exchanges and messages?`,
    run: async () => {
      await api('DELETE', p`/vhosts/${name}`);
      forgetVhost(name);
      ctx.vhosts();
      location.hash = '#/vhosts';
    },
    success: `Virtual host ${name} deleted`,
  })));
}
