// Channels: the server-paged list (prefetch, unacked, unconfirmed, rates).

import { link } from '../dom.js';
import { countColumn, rateColumn } from '../components/columns.js';
import { pagedTable, showList } from '../components/table.js';
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
    countColumn('messages_unacknowledged', 'Unacked'),
    countColumn('messages_unconfirmed', 'Unconfirmed'),
    rateColumn('publish', 'Publish', 'publish'),
    rateColumn('deliver', 'Deliver / get', 'deliver_get'),
    rateColumn('ack', 'Ack', 'ack'),
  ];
}

export default async function channels(ctx) {
  const list = pagedTable({
    testid: 'channels-table',
    path: () => listPath('channels'),
    columns: [currentVhost() ? null : { key: 'vhost', label: 'Virtual host' }, ...channelColumns()].filter(Boolean),
    empty: 'No channels.',
  });
  await showList(ctx, { title: 'Channels', heading: 'All channels', testid: 'channels-section', list });
}
