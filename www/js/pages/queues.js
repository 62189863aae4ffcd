// Queues: the server-paged list with counts and rates, and the form to add one.

import { api, p } from '../api.js';
import { link, section } from '../dom.js';
import { QUEUE_ARGS } from '../known-args.js';
import { countColumn, declareFields, DURABILITY, NO_YES, rateColumn } from '../components/columns.js';
import { features } from '../components/features.js';
import { form } from '../components/form.js';
import { pagedTable, showList } from '../components/table.js';
import { currentVhost, listPath, vhostOptions } from '../components/vhost.js';

export default async function queues(ctx) {
  const all = !currentVhost();
  const list = pagedTable({
    testid: 'queues-table',
    path: () => listPath('queues'),
    columns: [
      all ? { key: 'vhost', label: 'Virtual host' } : null,
      { key: 'name', label: 'Name', render: (q) => link(q.name, 'queues', q.vhost, q.name) },
      // In a cluster, the node the queue lives on.
      { key: 'node', label: 'Node' },
      { key: 'features', label: 'Features', sort: false, fields: ['durable', 'auto_delete', 'exclusive', 'arguments', 'policy'], render: features },
      { key: 'state', label: 'State' },
      { key: 'consumers', label: 'Consumers', class: 'num' },
      countColumn('messages_ready', 'Ready'),
      countColumn('messages_unacknowledged', 'Unacked'),
      countColumn('messages', 'Total'),
      rateColumn('incoming', 'Incoming', 'publish'),
      rateColumn('deliver', 'Deliver / get', 'deliver_get'),
      rateColumn('ack', 'Ack', 'ack'),
    ].filter(Boolean),
  });
  await showList(ctx, { title: 'Queues', heading: 'All queues', testid: 'queues-section', list });

  const vhosts = await vhostOptions();
  ctx.root.append(section('Add a queue', 'add-queue-section', form({
    testid: 'add-queue',
    submit: 'Add queue',
    fields: [
      ...declareFields(vhosts),
      { name: 'durable', label: 'Durability', type: 'select', options: DURABILITY },
      { name: 'auto_delete', label: 'Auto delete', type: 'select', options: NO_YES },
      { name: 'arguments', label: 'Arguments', type: 'args', known: QUEUE_ARGS },
    ],
    async onSubmit(v) {
      await api('PUT', p`/queues/${v.vhost}/${v.name}`, {
        body: { durable: v.durable === 'true', auto_delete: v.auto_delete === 'true', arguments: v.arguments },
      });
      await list.refresh();
      return v.name;
    },
    success: (name) => `Queue ${name} declared`,
  })));
}
