// One channel: its figures (prefetch, unacked, confirms, transactions) and consumers.

import { api, p } from '../api.js';
import { facts, h, link, replace, section } from '../dom.js';
import { num, rate, yesNo } from '../format.js';
import { staticTable } from '../components/table.js';

export default async function channel(ctx) {
  const { name } = ctx.params;
  const summary = h('div', { testid: 'channel-facts' });
  const consumers = h('div');
  ctx.root.append(h('h1', {}, 'Channel ', h('span', { class: 'name', testid: 'channel-name' }, name)),
    h('div', { class: 'cols' }, section('Details', 'details-section', summary), section('Consumers', 'consumers-section', consumers)));

  async function load() {
    const c = await api('GET', p`/channels/${name}`);
    const conn = c.connection_details?.name;
    replace(summary, facts([
      ['Connection', conn ? link(conn, 'connections', conn) : null],
      ['Number', c.number], ['User', c.user], ['Virtual host', c.vhost], ['State', c.state],
      ['Prefetch count', num(c.prefetch_count)], ['Global prefetch count', num(c.global_prefetch_count)],
      ['Unacked', num(c.messages_unacknowledged)], ['Unconfirmed', num(c.messages_unconfirmed)],
      ['Uncommitted messages', num(c.messages_uncommitted)], ['Uncommitted acks', num(c.acks_uncommitted)],
      ['Confirm mode', yesNo(c.confirm)], ['Transactional', yesNo(c.transactional)],
      ['Publish', rate(c.message_stats?.publish_details)], ['Deliver / get', rate(c.message_stats?.deliver_get_details)],
      ['Ack', rate(c.message_stats?.ack_details)],
    ]));
    replace(consumers, staticTable({
      testid: 'consumers-table', rowKey: (x) => x.consumer_tag, rows: c.consumer_details || [], empty: 'No consumers.',
      columns: [
        { key: 'consumer_tag', label: 'Tag' },
        { key: 'queue', label: 'Queue', render: (x) => (x.queue ? link(x.queue.name, 'queues', x.queue.vhost, x.queue.name) : '') },
        { key: 'ack_required', label: 'Ack required', render: (x) => yesNo(x.ack_required) },
        { key: 'exclusive', label: 'Exclusive', render: (x) => yesNo(x.exclusive) },
        { key: 'prefetch_count', label: 'Prefetch', class: 'num' },
      ],
    }));
  }
  await load();
  ctx.every(() => load().catch(() => {}));
}
