// Virtual hosts: the list (with their limits) and the form to add one.

import { api, p } from '../api.js';
import { link, section } from '../dom.js';
import { num } from '../format.js';
import { adminNav } from '../components/adminnav.js';
import { countColumn } from '../components/columns.js';
import { form } from '../components/form.js';
import { pagedTable, showList } from '../components/table.js';

export default async function vhosts(ctx) {
  let limits = new Map();
  const limit = (v, key) => {
    const n = limits.get(v.name)?.[key];
    return n === undefined ? '' : num(n);
  };
  const list = pagedTable({
    testid: 'vhosts-table',
    path: () => '/vhosts',
    always: ['name'],
    columns: [
      { key: 'name', label: 'Name', render: (v) => link(v.name, 'vhosts', v.name) },
      { key: 'description', label: 'Description' },
      { key: 'tags', label: 'Tags', render: (v) => (v.tags || []).join(', ') },
      countColumn('messages_ready', 'Ready'),
      countColumn('messages_unacknowledged', 'Unacked'),
      countColumn('messages', 'Total'),
      { key: 'max_connections', label: 'Max connections', sort: false, fields: [], render: (v) => limit(v, 'max-connections') },
      { key: 'max_queues', label: 'Max queues', sort: false, fields: [], render: (v) => limit(v, 'max-queues') },
    ],
  });
  async function refresh() {
    const all = await api('GET', '/vhost-limits').catch(() => []);
    limits = new Map(all.map((l) => [l.vhost, l.value]));
    await list.refresh();
  }
  ctx.root.append(adminNav('vhosts'));
  await showList(ctx, { title: 'Virtual hosts', heading: 'All virtual hosts', testid: 'vhosts-section', list, refresh });

  ctx.root.append(section('Add a virtual host', 'add-vhost-section', form({
    testid: 'add-vhost',
    submit: 'Add virtual host',
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'description', label: 'Description' },
      { name: 'tags', label: 'Tags', placeholder: 'comma-separated' },
    ],
    async onSubmit(v) {
      await api('PUT', p`/vhosts/${v.name}`, { body: { description: v.description, tags: v.tags } });
      await refresh();
      ctx.vhosts();
      return v.name;
    },
    success: (name) => `Virtual host ${name} added`,
  })));
}
