// Login: the credentials are checked against /api/whoami (which needs a management tag),
// then kept in sessionStorage for the API client.

import { api, session } from '../api.js';
import { h } from '../dom.js';
import { form } from '../components/form.js';
import { showError } from '../components/banner.js';

export default async function login({ root }) {
  session.clear();
  const ended = sessionStorage.getItem('warren.login-reason');
  sessionStorage.removeItem('warren.login-reason');
  root.append(h('div', { class: 'login' },
    h('div', { class: 'login-brand' }, h('img', { src: 'img/warren.svg', alt: '' }), h('h1', {}, 'Warren')),
    form({
      testid: 'login-form',
      submit: 'Log in',
      keep: true,
      fields: [
        { name: 'username', label: 'Username', required: true, autocomplete: 'username' },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' },
      ],
      async onSubmit({ username, password }) {
        const me = await api('GET', '/whoami', { credentials: { name: username, password } });
        session.save(username, password, me.tags || []);
        const next = sessionStorage.getItem('warren.after-login');
        sessionStorage.removeItem('warren.after-login');
        location.hash = next && next !== '#/login' ? next : '#/';
      },
    })));
  if (ended) showError(ended);
  root.querySelector('input[name=username]').focus();
}
