// Permissions and topic permissions, shown from one side (a user's or a vhost's) with the
// form that sets them for the other side, and a Clear button per row.

import { api, p } from '../api.js';
import { h, link, replace, section } from '../dom.js';
import { actionButton, form } from './form.js';
import { staticTable } from './table.js';

/**
 * side: {kind: 'user'|'vhost', name}; others: the names to choose from on the other side.
 * Lists come from /users/<u>/permissions or /vhosts/<v>/permissions (and topic-permissions).
 */
export function permissionsPanels(side, others) {
  const isUser = side.kind === 'user';
  const otherKey = isUser ? 'vhost' : 'user';
  const otherLabel = isUser ? 'Virtual host' : 'User';
  const base = isUser ? p`/users/${side.name}` : p`/vhosts/${side.name}`;
  const pair = (other) => (isUser ? [other, side.name] : [side.name, other]);
  const otherLink = (r) => link(r[otherKey], isUser ? 'vhosts' : 'users', r[otherKey]);

  const plain = h('div');
  const topic = h('div');
  async function reload() {
    const [perms, topics] = await Promise.all([api('GET', `${base}/permissions`), api('GET', `${base}/topic-permissions`)]);
    replace(plain, staticTable({
      testid: 'permissions-table', rowKey: (r) => r[otherKey], rows: perms, empty: 'No permissions.',
      columns: [
        { key: otherKey, label: otherLabel, render: otherLink },
        { key: 'configure', label: 'Configure regexp' }, { key: 'write', label: 'Write regexp' }, { key: 'read', label: 'Read regexp' },
        { key: 'clear', label: '', render: (r) => clearButton('permissions', r[otherKey]) },
      ],
    }));
    replace(topic, staticTable({
      testid: 'topic-permissions-table', rowKey: (r) => `${r[otherKey]}:${r.exchange}`, rows: topics, empty: 'No topic permissions.',
      columns: [
        { key: otherKey, label: otherLabel, render: otherLink },
        { key: 'exchange', label: 'Exchange' }, { key: 'write', label: 'Write regexp' }, { key: 'read', label: 'Read regexp' },
        { key: 'clear', label: '', render: (r) => clearButton('topic-permissions', r[otherKey]) },
      ],
    }));
  }

  function clearButton(kind, other) {
    const [v, u] = pair(other);
    return actionButton({
      label: 'Clear', small: true, testid: `clear-${kind}-${other}`,
      run: async () => { await api('DELETE', p`/${kind}/${v}/${u}`); await reload(); },
      success: `Cleared ${kind.replace('-', ' ')} of ${u} in ${v}`,
    });
  }

  /** The form that sets a permission of `kind` for the chosen other side. */
  const setForm = (kind, what, fields) => form({
    testid: `set-${kind.slice(0, -1)}`, title: `Set ${what}`, submit: `Set ${what}`,
    fields: [{ name: 'other', label: otherLabel, type: 'select', options: others }, ...fields,
      { name: 'write', label: 'Write regexp', value: '.*' },
      { name: 'read', label: 'Read regexp', value: '.*' }],
    async onSubmit({ other, ...body }) {
      const [vh, u] = pair(other);
      await api('PUT', p`/${kind}/${vh}/${u}`, { body });
      await reload();
      return `${what[0].toUpperCase()}${what.slice(1)} of ${u} in ${vh} set`;
    },
    success: (m) => m,
  });
  const setPerms = setForm('permissions', 'permission', [{ name: 'configure', label: 'Configure regexp', value: '.*' }]);
  const setTopic = setForm('topic-permissions', 'topic permission', [{ name: 'exchange', label: 'Exchange', value: 'amq.topic' }]);
  return {
    reload,
    els: [section('Permissions', 'permissions-section', plain, setPerms),
      section('Topic permissions', 'topic-permissions-section', topic, setTopic)],
  };
}
