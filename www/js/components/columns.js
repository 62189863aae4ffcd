// Column and field definitions that several lists and forms share.

import { num, rate } from '../format.js';

/** A message rate from `message_stats.<stat>_details`, sortable on the server. */
export function rateColumn(key, label, stat) {
  const field = `message_stats.${stat}_details`;
  return { key, label, class: 'num', sort: `${field}.rate`, fields: [field], render: (r) => rate(r.message_stats?.[`${stat}_details`]) };
}

/** A count, right-aligned with thousands separators. */
export function countColumn(key, label) {
  return { key, label, class: 'num', render: (r) => num(r[key]) };
}

export const NO_YES = [['false', 'No'], ['true', 'Yes']];
export const DURABILITY = [['true', 'Durable'], ['false', 'Transient']];

/** The fields every declare form starts with: the vhost and the name. */
export function declareFields(vhosts) {
  return [
    { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
    { name: 'name', label: 'Name', required: true },
  ];
}
