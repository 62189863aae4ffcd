// Queues: the server-paged list with counts and rates, and the form to add one.

import { api, p } from '../api.js';
import { h, link, section } from '../dom.js';
import { num, rate } from '../format.js';
import { QUEUE_ARGS } from '../known-args.js';
import { features } from '../components/features.js';
import { form } from '../components/form.js';
import { pagedTable } from '../components/table.js';
import { currentVhost, listPath, vhostOptions } from '../components/vhost.js';

export default async function queues(ctx) {
  const all = !currentVhost();
  const list = pagedTable({
    testid: 'queues-table',
    path: () => listPath('queues'),
    columns: [
      all ? { key: 'vhost', label: 'Virtual host' } : null,
      { key: 'name', label: 'Name', render: (q) => link(q.name, 'queues', q.vhost, q.name) },
      { key: 'features', label: 'Features', sort: false, fields: ['durable', 'auto_delete', 'exclusive', 'arguments', 'policy'], render: features },
      { key: 'state', label: 'State' },
      { key: 'consumers', label: 'Consumers', class: 'num' },
      { key: 'messages_ready', label: 'Ready', class: 'num', render: (q) => num(q.messages_ready) },
      { key: 'messages_unacknowledged', label: 'Unacked', class: 'num', render: (q) => num(q.messages_unacknowledged) },
      { key: 'messages', label: 'Total', class: 'num', render: (q) => num(q.messages) },
      { key: 'incoming', label: 'Incoming', class: 'num', sort: 'message_stats.publish_details.rate', fields: ['message_stats.publish_details'], render: (q) => rate(q.message_stats?.publish_details) },
      { key: 'deliver', label: 'Deliver / get', class: 'num', sort: 'message_stats.deliver_get_details.rate', fields: ['message_stats.deliver_get_details'], render: (q) => rate(q.message_stats?.deliver_get_details) },
      { key: 'ack', label: 'Ack', class: 'num', sort: 'message_stats.ack_details.rate', fields: ['message_stats.ack_details'], render: (q) => rate(q.message_stats?.ack_details) },
    ].filter(Boolean),
  });
  ctx.root.append(h('h1', {}, 'Queues'), section('All queues', 'queues-section', list.el));
  await list.refresh();
  ctx.every(list.refresh);

  const vhosts = await vhostOptions();
  ctx.root.append(section('Add a queue', 'add-queue-section', form({
    testid: 'add-queue',
    submit: 'Add queue',
    fields: [
      { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
      { name: 'name', label: 'Name', required: true },
      { name: 'durable', label: 'Durability', type: 'select', options: [['true', 'Durable'], ['false', 'Transient']] },
      { name: 'auto_delete', label: 'Auto delete', type: 'select', options: [['false', 'No'], ['true', 'Yes']] },
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
