// One queue: its figures, its mirrors (synchronise them), consumers, bindings (add and
// remove), publish to it through the default exchange, get messages, purge and delete.

import { api, p } from '../api.js';
import { facts, h, replace, section } from '../dom.js';
import { bytes, json, num, rate, table, yesNo } from '../format.js';
import { bindingsPanel } from '../components/bindings.js';
import { actionButton, form } from '../components/form.js';
import { features } from '../components/features.js';
import { publishPanel } from '../components/publish.js';
import { staticTable } from '../components/table.js';

export default async function queue(ctx) {
  const { vhost, name } = ctx.params;
  const path = p`/queues/${vhost}/${name}`;
  const summary = h('div', { testid: 'queue-facts' });
  const consumers = h('div');
  ctx.root.append(h('h1', {}, 'Queue ', h('span', { class: 'name', testid: 'queue-name' }, name), h('span', { class: 'muted' }, ` in ${vhost}`)),
    h('div', { class: 'cols' }, section('Details', 'details-section', summary), section('Consumers', 'consumers-section', consumers)));

  async function load() {
    const q = await api('GET', path);
    replace(summary, facts([
      ['Features', features(q)],
      ['State', q.state],
      ['Ready', h('span', { testid: 'messages-ready' }, num(q.messages_ready))],
      ['Unacked', h('span', { testid: 'messages-unacked' }, num(q.messages_unacknowledged))],
      ['Total', h('span', { testid: 'messages-total' }, num(q.messages))],
      ['Message bytes', bytes(q.message_bytes)],
      ['Incoming', rate(q.message_stats?.publish_details)],
      ['Deliver / get', rate(q.message_stats?.deliver_get_details)],
      ['Ack', rate(q.message_stats?.ack_details)],
      ['Consumers', num(q.consumers)],
      ['Consumer utilisation', q.consumer_utilisation == null ? null : `${Math.round(q.consumer_utilisation * 100)}%`],
      ['Policy', q.policy || null],
      ['Effective policy definition', q.effective_policy_definition && Object.keys(q.effective_policy_definition).length ? h('span', { class: 'pre' }, table(q.effective_policy_definition)) : null],
      ['Arguments', Object.keys(q.arguments || {}).length ? h('span', { class: 'pre' }, table(q.arguments)) : null],
      ['Node', h('span', { testid: 'queue-node' }, q.node)],
      ['Mirrors', mirrors(q, path, load)],
    ]));
    replace(consumers, staticTable({
      testid: 'consumers-table',
      rowKey: (c) => c.consumer_tag,
      empty: 'No consumers.',
      rows: q.consumer_details || [],
      columns: [
        { key: 'channel', label: 'Channel', render: (c) => c.channel_details?.name || '' },
        { key: 'consumer_tag', label: 'Tag' },
        { key: 'ack_required', label: 'Ack required', render: (c) => yesNo(c.ack_required) },
        { key: 'exclusive', label: 'Exclusive', render: (c) => yesNo(c.exclusive) },
        { key: 'prefetch_count', label: 'Prefetch', class: 'num' },
        { key: 'arguments', label: 'Arguments', render: (c) => h('span', { class: 'pre' }, table(c.arguments)) },
      ],
    }));
  }
  await load();
  ctx.every(() => load().catch(() => {}));

  const bindings = bindingsPanel({ type: 'queue', vhost, name }, 'to');
  await bindings.reload();
  ctx.root.append(bindings.el, publishPanel(vhost, 'amq.default', name), getPanel(path, load),
    section('Purge or delete', 'danger-section', h('div', { class: 'actions' },
      actionButton({
        label: 'Purge messages', testid: 'purge', confirm: `Purge every message of ${name}?`,
        run: async () => { await api('DELETE', `${path}/contents`); await load(); },
        success: `Queue ${name} purged`,
      }),
      actionButton({
        label: 'Delete queue', testid: 'delete', danger: true, confirm: `Delete the queue ${name}?`,
        run: async () => {
          await api('DELETE', path);
          location.hash = '#/queues';
        },
        success: `Queue ${name} deleted`,
      }))));
}

/**
 * The mirrors of a mirrored queue as RabbitMQ's UI shows them: one a line, those not yet
 * synchronised marked, and while any is not, the sync actions (Warren does not report a sync
 * under way, so "Cancel synchronisation" shows beside "Synchronise"). Null when not mirrored.
 */
function mirrors(q, path, reload) {
  const nodes = q.slave_nodes || [];
  if (!nodes.length) return null;
  const synced = new Set(q.synchronised_slave_nodes || []);
  const action = (verb, label, testid, success) => actionButton({
    label, testid, small: true, success,
    run: async () => { await api('POST', `${path}/actions`, { body: { action: verb } }); await reload(); },
  });
  return h('div', { testid: 'mirrors' },
    nodes.map((n) => h('div', { testid: `mirror-${n}` }, n, synced.has(n) ? null : h('b', {}, ' (unsynchronised)'))),
    nodes.some((n) => !synced.has(n)) || q.state === 'syncing'
      ? h('div', { class: 'actions' },
        action('sync', 'Synchronise', 'sync', `Synchronising ${q.name}`),
        action('cancel_sync', 'Cancel synchronisation', 'cancel-sync', `Synchronisation of ${q.name} cancelled`))
      : null);
}

/** Get messages: count, ack mode, encoding; the messages shown below the form. */
function getPanel(path, reload) {
  const out = h('div', { class: 'messages', testid: 'messages' });
  return section('Get messages', 'get-section',
    h('p', { class: 'muted' }, 'Getting messages is a destructive action: with an ack mode that does not requeue, they leave the queue.'),
    form({
      testid: 'get-messages',
      submit: 'Get message(s)',
      keep: true,
      fields: [
        { name: 'ackmode', label: 'Ack mode', type: 'select', options: [
          ['ack_requeue_true', 'Nack message requeue true'],
          ['ack_requeue_false', 'Automatic ack'],
          ['reject_requeue_true', 'Reject requeue true'],
          ['reject_requeue_false', 'Reject requeue false']] },
        { name: 'encoding', label: 'Encoding', type: 'select', options: [['auto', 'Auto string / base64'], ['base64', 'Base64']] },
        { name: 'count', label: 'Messages', type: 'number', value: 1, min: 1 },
      ],
      async onSubmit(v) {
        const msgs = await api('POST', `${path}/get`, {
          body: { count: v.count ?? 1, ackmode: v.ackmode, encoding: v.encoding, truncate: 50000 },
        });
        replace(out, msgs.length ? msgs.map(message) : h('p', { testid: 'queue-empty' }, 'Queue is empty'));
        await reload();
        return msgs.length;
      },
      success: (n) => (n ? `${n} message${n === 1 ? '' : 's'} fetched` : 'Queue is empty'),
    }),
    out);
}

function message(m, i) {
  return h('div', { class: 'message', testid: `message-${i + 1}` },
    h('h3', {}, `Message ${i + 1}`),
    h('p', { class: 'muted' }, `The server reported ${num(m.message_count)} messages remaining.`),
    facts([
      ['Exchange', m.exchange || '(AMQP default)'],
      ['Routing key', m.routing_key],
      ['Redelivered', yesNo(m.redelivered)],
      ['Properties', h('span', { class: 'pre' }, json(m.properties))],
      ['Payload', `${num(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`],
    ]),
    h('pre', { class: 'payload', testid: 'payload' }, m.payload));
}
