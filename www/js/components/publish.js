// Publishing a message through the API: routing key, delivery mode, headers (typed),
// properties, payload and its encoding. The answer says whether it was routed.

import { api, p } from '../api.js';
import { section } from '../dom.js';
import { MESSAGE_PROPS } from '../known-args.js';
import { form } from './form.js';

/** Publishes to exchange `exchange` (the default exchange is 'amq.default'). */
export function publishPanel(vhost, exchange, routingKey = '') {
  return section('Publish message', 'publish-section', form({
    testid: 'publish',
    submit: 'Publish message',
    fields: [
      { name: 'routing_key', label: 'Routing key', value: routingKey },
      { name: 'delivery_mode', label: 'Delivery mode', type: 'select', options: [['1', '1 - Non-persistent'], ['2', '2 - Persistent']] },
      { name: 'headers', label: 'Headers', type: 'args' },
      { name: 'properties', label: 'Properties', type: 'args', known: MESSAGE_PROPS },
      { name: 'payload', label: 'Payload', type: 'textarea', rows: 5 },
      { name: 'payload_encoding', label: 'Payload encoding', type: 'select', options: [['string', 'String'], ['base64', 'Base64']] },
    ],
    async onSubmit(v) {
      const properties = { ...v.properties, delivery_mode: Number(v.delivery_mode) };
      if (Object.keys(v.headers).length) properties.headers = v.headers;
      const res = await api('POST', p`/exchanges/${vhost}/${exchange}/publish`, {
        body: { properties, routing_key: v.routing_key, payload: v.payload, payload_encoding: v.payload_encoding },
      });
      return res?.routed;
    },
    success: (routed) => (routed ? 'Message published.' : 'Message published, but not routed.'),
    keep: true,
  }));
}
