// The optional arguments RabbitMQ's own forms offer as clickable names (its queues.ejs,
// exchanges.ejs and policies.ejs), limited to what a classic queue and Warren support.

export const QUEUE_ARGS = [
  { key: 'x-expires', label: 'Auto expire', type: 'number' },
  { key: 'x-message-ttl', label: 'Message TTL', type: 'number' },
  { key: 'x-overflow', label: 'Overflow behaviour', type: 'string', value: 'drop-head' },
  { key: 'x-single-active-consumer', label: 'Single active consumer', type: 'boolean', value: 'true' },
  { key: 'x-dead-letter-exchange', label: 'Dead letter exchange', type: 'string' },
  { key: 'x-dead-letter-routing-key', label: 'Dead letter routing key', type: 'string' },
  { key: 'x-max-length', label: 'Max length', type: 'number' },
  { key: 'x-max-length-bytes', label: 'Max length bytes', type: 'number' },
  { key: 'x-max-priority', label: 'Maximum priority', type: 'number' },
  { key: 'x-queue-mode', label: 'Lazy mode', type: 'string', value: 'lazy' },
  { key: 'x-queue-version', label: 'Version', type: 'number' },
  { key: 'x-queue-master-locator', label: 'Master locator', type: 'string' },
];

export const EXCHANGE_ARGS = [
  { key: 'alternate-exchange', label: 'Alternate exchange', type: 'string' },
];

export const POLICY_KEYS = [
  { key: 'max-length', label: 'Max length', type: 'number' },
  { key: 'max-length-bytes', label: 'Max length bytes', type: 'number' },
  { key: 'overflow', label: 'Overflow behaviour', type: 'string', value: 'drop-head' },
  { key: 'expires', label: 'Auto expire', type: 'number' },
  { key: 'dead-letter-exchange', label: 'Dead letter exchange', type: 'string' },
  { key: 'dead-letter-routing-key', label: 'Dead letter routing key', type: 'string' },
  { key: 'message-ttl', label: 'Message TTL', type: 'number' },
  { key: 'ha-mode', label: 'HA mode', type: 'string', value: 'all' },
  { key: 'ha-params', label: 'HA params', type: 'number' },
  { key: 'ha-sync-mode', label: 'HA sync mode', type: 'string', value: 'automatic' },
  { key: 'ha-promote-on-shutdown', label: 'HA mirror promotion on shutdown', type: 'string' },
  { key: 'ha-promote-on-failure', label: 'HA mirror promotion on failure', type: 'string' },
  { key: 'queue-mode', label: 'Lazy mode', type: 'string', value: 'lazy' },
  { key: 'queue-version', label: 'Version', type: 'number' },
  { key: 'queue-master-locator', label: 'Master locator', type: 'string' },
  { key: 'alternate-exchange', label: 'Alternate exchange', type: 'string' },
];

export const OPERATOR_POLICY_KEYS = [
  { key: 'max-length', label: 'Max length', type: 'number' },
  { key: 'max-length-bytes', label: 'Max length bytes', type: 'number' },
  { key: 'overflow', label: 'Overflow behaviour', type: 'string', value: 'drop-head' },
  { key: 'message-ttl', label: 'Message TTL', type: 'number' },
  { key: 'expires', label: 'Auto expire', type: 'number' },
];

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
