// One connection: its figures, client properties, channels, and closing it with a reason
// (DELETE with the X-Reason header, which the client sees in its connection.close).

import { api, p } from '../api.js';
import { facts, h, replace, section } from '../dom.js';
import { byteRate, json, num, time } from '../format.js';
import { form } from '../components/form.js';
import { staticTable } from '../components/table.js';
import { channelColumns } from './channels.js';

export default async function connection(ctx) {
  const { name } = ctx.params;
  const path = p`/connections/${name}`;
  const summary = h('div', { testid: 'connection-facts' });
  const props = h('div', { testid: 'client-properties' });
  const tls = h('div', { testid: 'tls-facts' });
  const channels = h('div');
  ctx.root.append(h('h1', {}, 'Connection ', h('span', { class: 'name', testid: 'connection-name' }, name)),
    h('div', { class: 'cols' }, section('Details', 'details-section', summary), section('Client properties', 'client-section', props)),
    section('TLS', 'tls-section', tls),
    section('Channels', 'channels-section', channels));

  async function load() {
    const [c, chans] = await Promise.all([api('GET', path), api('GET', `${path}/channels`)]);
    replace(summary, facts([
      ['User', c.user], ['Virtual host', c.vhost], ['State', c.state], ['Protocol', c.protocol],
      ['Client-provided name', c.user_provided_name || null],
      ['Peer', `${c.peer_host}:${c.peer_port}`], ['Authentication', c.auth_mechanism],
      ['Heartbeat', `${c.timeout} s`], ['Frame max', num(c.frame_max)], ['Channel max', num(c.channel_max)],
      ['Channels', num(c.channels)], ['Connected at', time(c.connected_at)],
      ['From client', byteRate(c.recv_oct_details)], ['To client', byteRate(c.send_oct_details)],
    ]));
    replace(tls, facts(tlsFacts(c)));
    replace(props, h('pre', { class: 'pre' }, json(c.client_properties || {})));
    replace(channels, staticTable({ testid: 'channels-table', columns: channelColumns(), rows: chans || [], empty: 'No channels.' }));
  }
  await load();
  ctx.every(() => load().catch(() => {}));

  ctx.root.append(section('Close this connection', 'close-section', form({
    testid: 'close-connection',
    submit: 'Force close',
    fields: [{ name: 'reason', label: 'Reason', value: 'Closed via management plugin' }],
    async onSubmit(v) {
      await api('DELETE', path, { headers: { 'X-Reason': v.reason } });
      location.hash = '#/connections';
    },
    success: 'Connection closed',
  })));
}

/** The TLS session as the API reports it (RabbitMQ's fields); "none" where there is none. */
function tlsFacts(c) {
  if (!c.ssl) return [['TLS', 'none (plain TCP)']];
  const peer = c.peer_cert_subject;
  return [
    ['Protocol', c.ssl_protocol], ['Cipher', c.ssl_cipher],
    ['Key exchange', c.ssl_key_exchange], ['Hash', c.ssl_hash],
    ['Peer certificate subject', peer || 'none'],
    ['Peer certificate issuer', peer ? c.peer_cert_issuer : 'none'],
    ['Peer certificate validity', peer ? c.peer_cert_validity : 'none'],
  ];
}
