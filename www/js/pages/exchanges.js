// Exchanges: the server-paged list and the form to add one.

import { api, p } from '../api.js';
import { h, link, section } from '../dom.js';
import { rate } from '../format.js';
import { EXCHANGE_ARGS } from '../known-args.js';
import { features } from '../components/features.js';
import { form } from '../components/form.js';
import { pagedTable } from '../components/table.js';
import { currentVhost, listPath, vhostOptions } from '../components/vhost.js';

const TYPES = ['direct', 'fanout', 'headers', 'topic'];

/** The name shown and linked: the default exchange is '(AMQP default)' at amq.default. */
export const exchangeLink = (x) => link(x.name || '(AMQP default)', 'exchanges', x.vhost, x.name || 'amq.default');

export default async function exchanges(ctx) {
  const all = !currentVhost();
  const list = pagedTable({
    testid: 'exchanges-table',
    path: () => listPath('exchanges'),
    rowKey: (x) => x.name || 'amq.default',
    columns: [
      all ? { key: 'vhost', label: 'Virtual host' } : null,
      { key: 'name', label: 'Name', render: exchangeLink },
      { key: 'type', label: 'Type' },
      { key: 'features', label: 'Features', sort: false, fields: ['durable', 'auto_delete', 'internal', 'arguments', 'policy'], render: features },
      { key: 'in', label: 'Message rate in', class: 'num', sort: 'message_stats.publish_in_details.rate', fields: ['message_stats.publish_in_details'], render: (x) => rate(x.message_stats?.publish_in_details) },
      { key: 'out', label: 'Message rate out', class: 'num', sort: 'message_stats.publish_out_details.rate', fields: ['message_stats.publish_out_details'], render: (x) => rate(x.message_stats?.publish_out_details) },
    ].filter(Boolean),
  });
  ctx.root.append(h('h1', {}, 'Exchanges'), section('All exchanges', 'exchanges-section', list.el));
  await list.refresh();
  ctx.every(list.refresh);

  const vhosts = await vhostOptions();
  ctx.root.append(section('Add an exchange', 'add-exchange-section', form({
    testid: 'add-exchange',
    submit: 'Add exchange',
    fields: [
      { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
      { name: 'name', label: 'Name', required: true },
      { name: 'type', label: 'Type', type: 'select', options: TYPES },
      { name: 'durable', label: 'Durability', type: 'select', options: [['true', 'Durable'], ['false', 'Transient']] },
      { name: 'auto_delete', label: 'Auto delete', type: 'select', options: [['false', 'No'], ['true', 'Yes']] },
      { name: 'internal', label: 'Internal', type: 'select', options: [['false', 'No'], ['true', 'Yes']] },
      { name: 'arguments', label: 'Arguments', type: 'args', known: EXCHANGE_ARGS },
    ],
    async onSubmit(v) {
      await api('PUT', p`/exchanges/${v.vhost}/${v.name}`, {
        body: {
          type: v.type, durable: v.durable === 'true', auto_delete: v.auto_delete === 'true',
          internal: v.internal === 'true', arguments: v.arguments,
        },
      });
      await list.refresh();
      return v.name;
    },
    success: (name) => `Exchange ${name} declared`,
  })));
}
