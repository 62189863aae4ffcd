// One user: tags and password, permissions and topic permissions, deleting them.

import { api, names, p, session } from '../api.js';
import { facts, h, section } from '../dom.js';
import { adminNav } from '../components/adminnav.js';
import { actionButton, form } from '../components/form.js';
import { permissionsPanels } from '../components/permissions.js';
import { tagList, tagPicker } from '../components/tags.js';

export default async function user(ctx) {
  const { name } = ctx.params;
  const u = await api('GET', p`/users/${name}`);
  const vhosts = (await names('/vhosts')).map((v) => v.name);
  ctx.root.append(adminNav('users'), h('h1', {}, 'User ', h('span', { class: 'name', testid: 'user-name' }, name)),
    section('Details', 'details-section', facts([['Tags', tagList(u) || 'none'], ['Has password', u.password_hash ? 'yes' : 'no']])));

  const perms = permissionsPanels({ kind: 'user', name }, vhosts);
  await perms.reload();
  ctx.root.append(...perms.els);

  ctx.root.append(section('Update this user', 'update-user-section', tagPicker(form({
    testid: 'update-user',
    submit: 'Update user',
    keep: true,
    fields: [
      { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: 'Leave empty to keep the current password.' },
      { name: 'tags', label: 'Tags', value: tagList(u) },
    ],
    async onSubmit(v) {
      // The API replaces the whole user: without a new password, send the current hash.
      const body = { tags: v.tags };
      if (v.password) body.password = v.password;
      else body.password_hash = u.password_hash || '';
      if (u.hashing_algorithm) body.hashing_algorithm = u.hashing_algorithm;
      await api('PUT', p`/users/${name}`, { body });
      if (v.password && name === session.user?.name) session.save(name, v.password, session.user.tags);
      ctx.rerender();
    },
    success: `User ${name} updated`,
  }))), section('Delete this user', 'danger-section', actionButton({
    label: 'Delete user', testid: 'delete', danger: true, confirm: `Delete the user ${name}?`,
    run: async () => {
      await api('DELETE', p`/users/${name}`);
      location.hash = '#/users';
    },
    success: `User ${name} deleted`,
  })));
}
