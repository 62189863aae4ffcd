// One exchange: its figures, bindings in both directions (add and remove), publish, delete.

import { api, p } from '../api.js';
import { facts, h, replace, section } from '../dom.js';
import { rate, table } from '../format.js';
import { bindingsPanel } from '../components/bindings.js';
import { features } from '../components/features.js';
import { actionButton } from '../components/form.js';
import { publishPanel } from '../components/publish.js';

export default async function exchange(ctx) {
  const { vhost, name } = ctx.params;
  const path = p`/exchanges/${vhost}/${name}`;
  const isDefault = name === 'amq.default';
  const summary = h('div', { testid: 'exchange-facts' });
  ctx.root.append(h('h1', {}, 'Exchange ', h('span', { class: 'name', testid: 'exchange-name' }, isDefault ? '(AMQP default)' : name),
    h('span', { class: 'muted' }, ` in ${vhost}`)), section('Details', 'details-section', summary));

  async function load() {
    const x = await api('GET', path);
    replace(summary, facts([
      ['Type', x.type],
      ['Features', features(x)],
      ['Message rate in', rate(x.message_stats?.publish_in_details) || null],
      ['Message rate out', rate(x.message_stats?.publish_out_details) || null],
      ['Policy', x.policy || null],
      ['Arguments', Object.keys(x.arguments || {}).length ? h('span', { class: 'pre' }, table(x.arguments)) : null],
    ]));
  }
  await load();
  ctx.every(() => load().catch(() => {}));

  const panels = [];
  if (!isDefault) panels.push(bindingsPanel({ type: 'exchange', vhost, name }, 'from'), bindingsPanel({ type: 'exchange', vhost, name }, 'to'));
  await Promise.all(panels.map((b) => b.reload()));
  ctx.root.append(...panels.map((b) => b.el), publishPanel(vhost, name));
  if (!isDefault && !name.startsWith('amq.')) {
    ctx.root.append(section('Delete', 'danger-section', actionButton({
      label: 'Delete exchange', testid: 'delete', danger: true, confirm: `Delete the exchange ${name}?`,
      run: async () => {
        await api('DELETE', path);
        location.hash = '#/exchanges';
      },
      success: `Exchange ${name} deleted`,
    })));
  }
}
