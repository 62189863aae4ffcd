// Channels: the server-paged list (prefetch, unacked, unconfirmed, rates).

import { h, link, section } from '../dom.js';
import { num, rate } from '../format.js';
import { pagedTable } from '../components/table.js';
import { currentVhost, listPath } from '../components/vhost.js';

const mode = (c) => [c.confirm ? 'C' : '', c.transactional ? 'T' : ''].join(' ').trim();

/** The columns of a channel list (also on the connection page). */
export function channelColumns() {
  return [
    { key: 'name', label: 'Channel', render: (c) => link(c.name, 'channels', c.name) },
    { key: 'user', label: 'User' },
    { key: 'mode', label: 'Mode', sort: false, fields: ['confirm', 'transactional'], render: mode },
    { key: 'state', label: 'State' },
    { key: 'prefetch_count', label: 'Prefetch', class: 'num' },
    { key: 'messages_unacknowledged', label: 'Unacked', class: 'num', render: (c) => num(c.messages_unacknowledged) },
    { key: 'messages_unconfirmed', label: 'Unconfirmed', class: 'num', render: (c) => num(c.messages_unconfirmed) },
    { key: 'publish', label: 'Publish', class: 'num', sort: 'message_stats.publish_details.rate', fields: ['message_stats.publish_details'], render: (c) => rate(c.message_stats?.publish_details) },
    { key: 'deliver', label: 'Deliver / get', class: 'num', sort: 'message_stats.deliver_get_details.rate', fields: ['message_stats.deliver_get_details'], render: (c) => rate(c.message_stats?.deliver_get_details) },
    { key: 'ack', label: 'Ack', class: 'num', sort: 'message_stats.ack_details.rate', fields: ['message_stats.ack_details'], render: (c) => rate(c.message_stats?.ack_details) },
  ];
}

export default async function channels(ctx) {
  const list = pagedTable({
    testid: 'channels-table',
    path: () => listPath('channels'),
    columns: [currentVhost() ? null : { key: 'vhost', label: 'Virtual host' }, ...channelColumns()].filter(Boolean),
    empty: 'No channels.',
  });
  ctx.root.append(h('h1', {}, 'Channels'), section('All channels', 'channels-section', list.el));
  await list.refresh();
  ctx.every(list.refresh);
}
