// The optional arguments RabbitMQ's own forms offer as clickable names (its queues.ejs,
// exchanges.ejs and policies.ejs), limited to what a classic queue and Warren support.

/**
 * Queue settings, each with where RabbitMQ's forms offer it: as an `x-` argument of a
 * declare (`arg`), in a policy (`policy`), in an operator policy (`operator`).
 */
const QUEUE_SETTINGS = [
  { name: 'expires', label: 'Auto expire', type: 'number', arg: 1, policy: 1, operator: 1 },
  { name: 'message-ttl', label: 'Message TTL', type: 'number', arg: 1, policy: 1, operator: 1 },
  { name: 'overflow', label: 'Overflow behaviour', type: 'string', value: 'drop-head', arg: 1, policy: 1, operator: 1 },
  { name: 'single-active-consumer', label: 'Single active consumer', type: 'boolean', value: 'true', arg: 1 },
  { name: 'dead-letter-exchange', label: 'Dead letter exchange', type: 'string', arg: 1, policy: 1 },
  { name: 'dead-letter-routing-key', label: 'Dead letter routing key', type: 'string', arg: 1, policy: 1 },
  { name: 'max-length', label: 'Max length', type: 'number', arg: 1, policy: 1, operator: 1 },
  { name: 'max-length-bytes', label: 'Max length bytes', type: 'number', arg: 1, policy: 1, operator: 1 },
  { name: 'max-priority', label: 'Maximum priority', type: 'number', arg: 1 },
  { name: 'queue-mode', label: 'Lazy mode', type: 'string', value: 'lazy', arg: 1, policy: 1 },
  { name: 'queue-version', label: 'Version', type: 'number', arg: 1, policy: 1 },
  { name: 'queue-master-locator', label: 'Master locator', type: 'string', arg: 1, policy: 1 },
  { name: 'ha-mode', label: 'HA mode', type: 'string', value: 'all', policy: 1 },
  { name: 'ha-params', label: 'HA params', type: 'number', policy: 1 },
  { name: 'ha-sync-mode', label: 'HA sync mode', type: 'string', value: 'automatic', policy: 1 },
  { name: 'ha-promote-on-shutdown', label: 'HA mirror promotion on shutdown', type: 'string', policy: 1 },
  { name: 'ha-promote-on-failure', label: 'HA mirror promotion on failure', type: 'string', policy: 1 },
  { name: 'alternate-exchange', label: 'Alternate exchange', type: 'string', policy: 1 },
];

const offered = (where, prefix = '') => QUEUE_SETTINGS.filter((s) => s[where]).map((s) => ({ ...s, key: prefix + s.name }));

export const QUEUE_ARGS = offered('arg', 'x-');
export const POLICY_KEYS = offered('policy');
export const OPERATOR_POLICY_KEYS = offered('operator');
export const EXCHANGE_ARGS = [{ key: 'alternate-exchange', label: 'Alternate exchange', type: 'string' }];

/** Message properties the publish form offers (the AMQP basic properties). */
export const MESSAGE_PROPS = [
  { key: 'content_type', label: 'content_type', type: 'string', value: 'text/plain' },
  { key: 'content_encoding', label: 'content_encoding', type: 'string' },
  { key: 'priority', label: 'priority', type: 'number' },
  { key: 'correlation_id', label: 'correlation_id', type: 'string' },
  { key: 'reply_to', label: 'reply_to', type: 'string' },
  { key: 'expiration', label: 'expiration', type: 'string' },
  { key: 'message_id', label: 'message_id', type: 'string' },
  { key: 'timestamp', label: 'timestamp', type: 'number' },
  { key: 'type', label: 'type', type: 'string' },
  { key: 'user_id', label: 'user_id', type: 'string' },
  { key: 'app_id', label: 'app_id', type: 'string' },
];

export const USER_TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];
