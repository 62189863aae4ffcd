// Policies and operator policies: both lists, and a form for each that adds or updates one
// (a policy is replaced by PUT under the same name).

import { api, p } from '../api.js';
import { h, section } from '../dom.js';
import { table } from '../format.js';
import { OPERATOR_POLICY_KEYS, POLICY_KEYS } from '../known-args.js';
import { adminNav } from '../components/adminnav.js';
import { actionButton, form } from '../components/form.js';
import { pagedTable } from '../components/table.js';
import { currentVhost, listPath, vhostOptions } from '../components/vhost.js';

const KINDS = [
  { kind: 'policies', title: 'User policies', one: 'policy', article: 'a', keys: POLICY_KEYS, applyTo: [['all', 'Exchanges and queues'], ['exchanges', 'Exchanges'], ['queues', 'Queues']] },
  { kind: 'operator-policies', title: 'Operator policies', one: 'operator policy', article: 'an', keys: OPERATOR_POLICY_KEYS, applyTo: [['queues', 'Queues']] },
];

export default async function policies(ctx) {
  ctx.root.append(adminNav('policies'), h('h1', {}, 'Policies'));
  const vhosts = await vhostOptions();
  for (const k of KINDS) {
    const list = policyList(k);
    ctx.root.append(section(k.title, `${k.kind}-section`, list.el, policyForm(k, vhosts, list)));
    await list.refresh();
    ctx.every(list.refresh);
  }
}

function policyList(k) {
  const list = pagedTable({
    testid: `${k.kind}-table`,
    path: () => listPath(k.kind),
    sort: 'name',
    columns: [
      currentVhost() ? null : { key: 'vhost', label: 'Virtual host' },
      { key: 'name', label: 'Name' },
      { key: 'pattern', label: 'Pattern' },
      { key: 'apply-to', label: 'Apply to' },
      { key: 'definition', label: 'Definition', sort: false, render: (x) => h('span', { class: 'pre' }, table(x.definition)) },
      { key: 'priority', label: 'Priority', class: 'num' },
      {
        key: 'delete', label: '', sort: false, fields: [],
        render: (x) => actionButton({
          label: 'Delete', small: true, danger: true, testid: `delete-${x.name}`, confirm: `Delete the ${k.one} ${x.name}?`,
          run: async () => { await api('DELETE', p`/${k.kind}/${x.vhost}/${x.name}`); await list.refresh(); },
          success: `Deleted the ${k.one} ${x.name}`,
        }),
      },
    ].filter(Boolean),
    empty: `No ${k.kind.replace('-', ' ')}.`,
  });
  return list;
}

function policyForm(k, vhosts, list) {
  return form({
    testid: `add-${k.kind}`,
    title: `Add or update ${k.article} ${k.one}`,
    submit: `Save ${k.one}`,
    fields: [
      { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
      { name: 'name', label: 'Name', required: true },
      { name: 'pattern', label: 'Pattern', required: true, placeholder: '^amq\\.' },
      { name: 'apply-to', label: 'Apply to', type: 'select', options: k.applyTo },
      { name: 'priority', label: 'Priority', type: 'number', value: 0 },
      { name: 'definition', label: 'Definition', type: 'args', known: k.keys },
    ],
    async onSubmit(v) {
      await api('PUT', p`/${k.kind}/${v.vhost}/${v.name}`, {
        body: { pattern: v.pattern, definition: v.definition, priority: v.priority ?? 0, 'apply-to': v['apply-to'] },
      });
      await list.refresh();
      return v.name;
    },
    success: (name) => `Saved the ${k.one} ${name}`,
  });
}
