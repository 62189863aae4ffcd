// Exchanges: the server-paged list and the form to add one.

import { api, p } from '../api.js';
import { link, section } from '../dom.js';
import { EXCHANGE_ARGS } from '../known-args.js';
import { declareFields, DURABILITY, NO_YES, rateColumn } from '../components/columns.js';
import { features } from '../components/features.js';
import { form } from '../components/form.js';
import { pagedTable, showList } from '../components/table.js';
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
      rateColumn('in', 'Message rate in', 'publish_in'),
      rateColumn('out', 'Message rate out', 'publish_out'),
    ].filter(Boolean),
  });
  await showList(ctx, { title: 'Exchanges', heading: 'All exchanges', testid: 'exchanges-section', list });

  const vhosts = await vhostOptions();
  ctx.root.append(section('Add an exchange', 'add-exchange-section', form({
    testid: 'add-exchange',
    submit: 'Add exchange',
    fields: [
      ...declareFields(vhosts),
      { name: 'type', label: 'Type', type: 'select', options: TYPES },
      { name: 'durable', label: 'Durability', type: 'select', options: DURABILITY },
      { name: 'auto_delete', label: 'Auto delete', type: 'select', options: NO_YES },
      { name: 'internal', label: 'Internal', type: 'select', options: NO_YES },
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
