// Definitions: export (downloaded as a JSON file) and import (an uploaded file), for the
// whole broker or one vhost.

import { api, p } from '../api.js';
import { h, section } from '../dom.js';
import { adminNav } from '../components/adminnav.js';
import { form } from '../components/form.js';
import { vhostOptions } from '../components/vhost.js';

const ALL = '';

const pathFor = (vhost) => (vhost === ALL ? '/definitions' : p`/definitions/${vhost}`);

export default async function definitions(ctx) {
  const vhosts = [[ALL, 'All virtual hosts'], ...(await vhostOptions()).map((v) => [v, v])];
  ctx.root.append(adminNav('definitions'), h('h1', {}, 'Definitions'),
    section('Export definitions', 'export-section',
      h('p', { class: 'muted' }, 'Users, virtual hosts, permissions, policies, parameters, exchanges, queues and bindings, as JSON.'),
      form({
        testid: 'export-definitions', submit: 'Download broker definitions', keep: true,
        fields: [
          { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
          { name: 'file', label: 'File name', value: defaultName() },
        ],
        async onSubmit(v) {
          const defs = await api('GET', pathFor(v.vhost));
          download(v.file || defaultName(), JSON.stringify(defs, null, 2));
        },
        success: 'Definitions downloaded',
      })),
    section('Import definitions', 'import-section',
      h('p', { class: 'muted' }, 'Objects in the file are created or updated; nothing else is removed.'),
      form({
        testid: 'import-definitions', submit: 'Upload broker definitions',
        fields: [
          { name: 'file', label: 'Definitions file', type: 'file', accept: '.json,application/json', required: true },
          { name: 'vhost', label: 'Virtual host', type: 'select', options: vhosts },
        ],
        async onSubmit(v) {
          let defs;
          try {
            defs = JSON.parse(await v.file.text());
          } catch (e) {
            throw new Error(`${v.file.name} is not JSON: ${e.message}`);
          }
          await api('POST', pathFor(v.vhost), { body: defs });
          ctx.vhosts();
        },
        success: 'Definitions imported',
      })));
}

function defaultName() {
  const day = new Date().toISOString().slice(0, 10);
  return `warren_${location.hostname}_${day}.json`;
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
