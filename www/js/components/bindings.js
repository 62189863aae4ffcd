// Bindings of an exchange (either direction) or a queue: the list with an Unbind button on
// each, and the form that adds one. Default-exchange bindings are implicit and cannot be
// removed, as in RabbitMQ.

import { api, p } from '../api.js';
import { h, link, replace, section } from '../dom.js';
import { table } from '../format.js';
import { actionButton, form } from './form.js';
import { staticTable } from './table.js';

const destLink = (b) => link(b.destination, b.destination_type === 'queue' ? 'queues' : 'exchanges', b.vhost, b.destination);
const srcLink = (b) => (b.source === '' ? '(default exchange)' : link(b.source, 'exchanges', b.vhost, b.source));
const kindOf = (type) => (type === 'queue' ? 'q' : 'e');

/** The row's testid key: `source:destination:routing key`. */
const bindingKey = (b) => `${b.source}:${b.destination}:${b.routing_key}`;

function unbind(b, reload) {
  if (b.source === '') return h('span', { class: 'muted' }, 'implicit');
  return actionButton({
    label: 'Unbind', small: true, testid: `unbind-${bindingKey(b)}`,
    run: async () => {
      // properties_key is already URL-safe (a quoted routing key, `~`, a base64url hash) and
      // goes in as it is listed: RabbitMQ and Warren both find the binding by it that way.
      const path = p`/bindings/${b.vhost}/e/${b.source}/${kindOf(b.destination_type)}/${b.destination}/`;
      await api('DELETE', path + b.properties_key);
      await reload();
    },
    success: `Binding from ${b.source || '(default)'} to ${b.destination} removed`,
  });
}

const commonCols = [
  { key: 'routing_key', label: 'Routing key' },
  { key: 'arguments', label: 'Arguments', render: (b) => h('span', { class: 'pre' }, table(b.arguments)) },
];

/**
 * A panel for one end of some bindings.
 *   end: {type: 'queue'|'exchange', vhost, name}
 *   direction: 'from' (bindings whose source is this exchange) or 'to' (whose destination
 *   is this queue or exchange)
 */
export function bindingsPanel(end, direction) {
  const list = h('div');
  const outgoing = direction === 'from';
  const listPath = end.type === 'queue'
    ? p`/queues/${end.vhost}/${end.name}/bindings`
    : p`/exchanges/${end.vhost}/${end.name}/bindings/` + (outgoing ? 'source' : 'destination');

  async function reload() {
    const rows = await api('GET', listPath);
    replace(list, staticTable({
      testid: `bindings-${direction}`,
      rowKey: bindingKey,
      empty: 'No bindings.',
      columns: [
        outgoing
          ? { key: 'destination', label: 'To', render: (b) => h('span', {}, destLink(b), h('span', { class: 'muted' }, ` (${b.destination_type})`)) }
          : { key: 'source', label: 'From', render: srcLink },
        ...commonCols,
        { key: 'unbind', label: '', render: (b) => unbind(b, reload) },
      ],
      rows,
    }));
  }

  const fields = outgoing
    ? [
      { name: 'dest_type', label: 'To', type: 'select', options: [['queue', 'Queue'], ['exchange', 'Exchange']] },
      { name: 'destination', label: 'Name', required: true },
    ]
    : [{ name: 'source', label: 'From exchange', required: true }];
  const add = form({
    testid: `add-binding-${direction}`,
    title: outgoing ? 'Add binding from this exchange' : `Add binding to this ${end.type}`,
    submit: 'Bind',
    fields: [...fields,
      { name: 'routing_key', label: 'Routing key' },
      { name: 'arguments', label: 'Arguments', type: 'args' }],
    async onSubmit(v) {
      const [src, kind, dst] = outgoing
        ? [end.name, kindOf(v.dest_type), v.destination]
        : [v.source, kindOf(end.type), end.name];
      await api('POST', p`/bindings/${end.vhost}/e/${src}/${kind}/${dst}`, {
        body: { routing_key: v.routing_key, arguments: v.arguments },
      });
      await reload();
      return `Bound ${src} to ${dst}`;
    },
    success: (msg) => msg,
  });
  const title = outgoing ? 'Bindings from this exchange' : end.type === 'queue' ? 'Bindings' : 'Bindings to this exchange';
  return { el: section(title, `bindings-${direction}-section`, list, add), reload };
}
