// Connections: the server-paged list.

import { h, link } from '../dom.js';
import { byteRate, num } from '../format.js';
import { pagedTable, showList } from '../components/table.js';
import { currentVhost, listPath } from '../components/vhost.js';

export default async function connections(ctx) {
  const list = pagedTable({
    testid: 'connections-table',
    path: () => listPath('connections'),
    columns: [
      currentVhost() ? null : { key: 'vhost', label: 'Virtual host' },
      { key: 'name', label: 'Name', fields: ['name', 'user_provided_name'], render: (c) => h('span', {}, link(c.name, 'connections', c.name), c.user_provided_name ? h('span', { class: 'muted' }, ` ${c.user_provided_name}`) : null) },
      { key: 'user', label: 'User' },
      // As RabbitMQ's list: a filled dot for TLS, a hollow one for plain TCP.
      { key: 'ssl', label: 'SSL / TLS', class: 'c', fields: ['ssl', 'ssl_protocol'], render: (c) => tlsMark(c) },
      { key: 'state', label: 'State' },
      { key: 'protocol', label: 'Protocol' },
      { key: 'channels', label: 'Channels', class: 'num', render: (c) => num(c.channels) },
      { key: 'recv', label: 'From client', class: 'num', sort: 'recv_oct_details.rate', fields: ['recv_oct_details'], render: (c) => byteRate(c.recv_oct_details) },
      { key: 'send', label: 'To client', class: 'num', sort: 'send_oct_details.rate', fields: ['send_oct_details'], render: (c) => byteRate(c.send_oct_details) },
    ].filter(Boolean),
    empty: 'No connections.',
  });
  await showList(ctx, { title: 'Connections', heading: 'All connections', testid: 'connections-section', list });
}

/** ● with the protocol as its tooltip for a TLS connection, ○ for plain TCP. */
function tlsMark(c) {
  return c.ssl
    ? h('span', { class: 'tls-mark', title: c.ssl_protocol || 'TLS', 'aria-label': `TLS (${c.ssl_protocol})`, testid: 'tls-yes' }, '\u25CF')
    : h('span', { class: 'tls-mark muted', title: 'plain TCP', 'aria-label': 'plain TCP', testid: 'tls-no' }, '\u25CB');
}
