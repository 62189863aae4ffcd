// Users: the list and the form to add one.

import { api, p } from '../api.js';
import { link, section } from '../dom.js';
import { adminNav } from '../components/adminnav.js';
import { form } from '../components/form.js';
import { pagedTable, showList } from '../components/table.js';
import { tagList, tagPicker } from '../components/tags.js';

export default async function users(ctx) {
  const list = pagedTable({
    testid: 'users-table',
    path: () => '/users',
    always: ['name'],
    columns: [
      { key: 'name', label: 'Name', render: (u) => link(u.name, 'users', u.name) },
      { key: 'tags', label: 'Tags', render: tagList },
      { key: 'password', label: 'Has password', sort: false, fields: ['password_hash'], render: (u) => (u.password_hash ? '●' : '○') },
    ],
  });
  ctx.root.append(adminNav('users'));
  await showList(ctx, { title: 'Users', heading: 'All users', testid: 'users-section', list });

  ctx.root.append(section('Add a user', 'add-user-section', tagPicker(form({
    testid: 'add-user',
    submit: 'Add user',
    fields: [
      { name: 'name', label: 'Username', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password' },
      { name: 'tags', label: 'Tags', placeholder: 'comma-separated' },
    ],
    async onSubmit(v) {
      const body = { tags: v.tags };
      if (v.password) body.password = v.password;
      else body.password_hash = '';
      await api('PUT', p`/users/${v.name}`, { body });
      await list.refresh();
      return v.name;
    },
    success: (name) => `User ${name} added`,
  }))));
}
