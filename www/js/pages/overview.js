// Overview: totals, live charts of queued messages and message rates (polled every 5 s
// from the API's sample history), the node's figures and alarms, and the listeners.

import { api } from '../api.js';
import { facts, h, replace, section } from '../dom.js';
import { bytes, num, rate } from '../format.js';
import { timeChart } from '../components/chart.js';
import { staticTable } from '../components/table.js';

const HISTORY = '?lengths_age=600&lengths_incr=5&msg_rates_age=600&msg_rates_incr=5';
const POLL_MS = 5000;

const LENGTHS = [
  { key: 'messages_ready', label: 'Ready' },
  { key: 'messages_unacknowledged', label: 'Unacked' },
  { key: 'messages', label: 'Total' },
];
const RATES = [
  { key: 'publish', label: 'Publish' },
  { key: 'confirm', label: 'Publisher confirm' },
  { key: 'deliver_get', label: 'Deliver / get' },
  { key: 'redeliver', label: 'Redelivered' },
  { key: 'ack', label: 'Consumer ack' },
  { key: 'return_unroutable', label: 'Unroutable (return)' },
  { key: 'drop_unroutable', label: 'Unroutable (drop)' },
];

export default async function overview(ctx) {
  const { root } = ctx;
  const title = h('h1', {}, 'Overview');
  const totals = h('div', { class: 'tiles', testid: 'totals' });
  const queued = timeChart({ testid: 'chart-queued', title: 'Queued messages (last ten minutes)', series: LENGTHS, kind: 'lengths' });
  const rates = timeChart({ testid: 'chart-rates', title: 'Message rates (last ten minutes)', series: RATES, kind: 'rates' });
  const nodes = h('div', { testid: 'nodes' });
  const listeners = h('div', { testid: 'listeners' });
  root.append(title, totals, h('div', { class: 'charts' }, queued.el, rates.el),
    section('Node', 'node-section', nodes), section('Listeners', 'listeners-section', listeners));
  ctx.onCleanup(() => { queued.destroy(); rates.destroy(); });

  async function poll() {
    const [ov, ns] = await Promise.all([api('GET', '/overview' + HISTORY), api('GET', '/nodes').catch(() => null)]);
    if (!ctx.alive()) return;
    title.textContent = `Overview · ${ov.cluster_name || ov.node}`;
    showTotals(totals, ov);
    queued.update((k) => ov.queue_totals?.[`${k}_details`]);
    rates.update((k) => ov.message_stats?.[`${k}_details`]);
    replace(nodes, ns ? ns.map(nodeFacts) : h('p', { class: 'muted' }, 'Node figures need the monitoring tag.'));
    replace(listeners, staticTable({
      testid: 'listeners-table', rowKey: (l) => `${l.protocol}-${l.port}`,
      columns: [{ key: 'protocol', label: 'Protocol' }, { key: 'ip_address', label: 'Bound to' }, { key: 'port', label: 'Port' }],
      rows: ov.listeners || [],
    }));
  }
  await poll();
  const t = setInterval(() => { if (!document.hidden) poll().catch(() => {}); }, POLL_MS);
  ctx.onCleanup(() => clearInterval(t));
}

function showTotals(el, ov) {
  const o = ov.object_totals || {};
  const q = ov.queue_totals || {};
  const m = ov.message_stats || {};
  const tile = (label, value, testid, href) => h(href ? 'a' : 'div', { class: 'tile', testid, href }, h('span', { class: 'tile-value' }, value), h('span', { class: 'tile-label' }, label));
  replace(el,
    tile('Connections', num(o.connections), 'total-connections', '#/connections'),
    tile('Channels', num(o.channels), 'total-channels', '#/channels'),
    tile('Exchanges', num(o.exchanges), 'total-exchanges', '#/exchanges'),
    tile('Queues', num(o.queues), 'total-queues', '#/queues'),
    tile('Consumers', num(o.consumers), 'total-consumers'),
    tile('Ready', num(q.messages_ready), 'total-ready'),
    tile('Unacked', num(q.messages_unacknowledged), 'total-unacked'),
    tile('Publish', rate(m.publish_details) || '0/s', 'rate-publish'),
    tile('Deliver / get', rate(m.deliver_get_details) || '0/s', 'rate-deliver'));
}

function nodeFacts(n) {
  const alarm = (on, text) => (on ? h('span', { class: 'badge bad' }, text) : h('span', { class: 'badge ok' }, 'OK'));
  const used = (a, b, f = num) => `${f(a)} / ${f(b)}`;
  return h('div', { class: 'node' }, h('h3', {}, n.name),
    facts([
      ['Memory', `${used(n.mem_used, n.mem_limit, bytes)}`],
      ['Memory alarm', alarm(n.mem_alarm, 'memory alarm')],
      ['Disk free', `${bytes(n.disk_free)} (limit ${bytes(n.disk_free_limit)})`],
      ['Disk alarm', alarm(n.disk_free_alarm, 'disk alarm')],
      ['File descriptors', used(n.fd_used, n.fd_total)],
      ['Sockets', n.sockets_total == null ? null : used(n.sockets_used, n.sockets_total)],
      ['Processors', num(n.processors)],
      ['Uptime', n.uptime ? `${Math.round(n.uptime / 60000)} min` : null],
    ], `node-${n.name}`));
}
