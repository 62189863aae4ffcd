// Browser tests of the web console against a real Warren: node tests/console/run.mjs [warren]
// (or WARREN_BIN=...). The binary defaults to target/release/warren. Each step drives the
// console in Debian's Chromium and checks the result through the management API; a
// screenshot of every page goes to docs/console/. Exits non-zero if any step fails.

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiClient, launchBrowser, startWarren } from './harness.mjs';
import { connect } from './amqp.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = resolve(process.argv[2] || process.env.WARREN_BIN || join(repo, 'target/release/warren'));
const shots = join(repo, 'docs/console');
/** The bound on rendering one page of a 10,000-queue list (part of the behaviour). */
const PAGE_BUDGET_MS = 1000;
const BULK = 10000;

mkdirSync(shots, { recursive: true });
const warren = await startWarren(bin);
const api = apiClient(warren.http);
const base = `http://${warren.http}`;
const browser = await launchBrowser();
const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(10000);
page.on('dialog', (d) => d.accept());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));

const byId = (id) => page.getByTestId(id);
const inForm = (formId, name) => byId(formId).locator(`[name="${name}"]`);

async function goto(hash, name) {
  await page.goto(`${base}/#/${hash}`);
  await page.locator(`[data-testid="page-${name}"][data-ready=true]`).waitFor();
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Waits until the locator's text matches. */
async function waitText(locator, re, timeout = 10000) {
  const end = Date.now() + timeout;
  let text = '';
  while (Date.now() < end) {
    text = await locator.innerText().catch(() => '');
    if (re.test(text)) return text;
    await page.waitForTimeout(50);
  }
  throw new Error(`expected ${re}, saw ${JSON.stringify(text)}`);
}

async function notice(re) {
  if (await byId('error').isVisible()) throw new Error(`the console shows an error: ${await byId('error').innerText()}`);
  await waitText(byId('notice'), re);
}

async function error(re) {
  await waitText(byId('error'), re);
}

/** Polls the API until `check(body)` holds. */
async function until(path, check, what) {
  const end = Date.now() + 10000;
  let last;
  while (Date.now() < end) {
    last = await api('GET', path);
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: ${path} answered ${last.status} ${JSON.stringify(last.body)?.slice(0, 300)}`);
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0 });
    console.log(`FAIL ${name}: ${e.stack || e}`);
    await page.screenshot({ path: join(tmpdir(), `console-failure-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

/** Runs `action` and measures until `done` resolves. */
async function timed(action, done) {
  const t0 = performance.now();
  await action();
  await done();
  return Math.round(performance.now() - t0);
}

let client = null;
const timings = {};

await step('a wrong password shows the API error', async () => {
  await page.goto(`${base}/`);
  await page.locator('[data-testid="page-login"][data-ready=true]').waitFor();
  await inForm('login-form', 'username').fill('guest');
  await inForm('login-form', 'password').fill('wrong');
  await byId('login-form-submit').click();
  await error(/Login failed/);
  await shot('login');
});

await step('log in, overview with charts, node figures and listeners', async () => {
  await inForm('login-form', 'password').fill('guest');
  await byId('login-form-submit').click();
  await page.locator('[data-testid="page-overview"][data-ready=true]').waitFor();
  await byId('chart-queued').locator('canvas').waitFor();
  await byId('chart-rates').locator('canvas').waitFor();
  await waitText(byId('listeners-table'), /amqp/);
  await waitText(byId('nodes'), /Memory/);
  await waitText(byId('current-user'), /guest/);
});

await step('add a vhost', async () => {
  await goto('vhosts', 'vhosts');
  await inForm('add-vhost', 'name').fill('shop');
  await inForm('add-vhost', 'description').fill('The web shop');
  await byId('add-vhost-submit').click();
  await notice(/Virtual host shop added/);
  await byId('row-shop').waitFor();
  await until('/vhosts/shop', (r) => r.status === 200, 'vhost shop');
  await shot('vhosts');
});

await step('add a user with a tag', async () => {
  await goto('users', 'users');
  await inForm('add-user', 'name').fill('alice');
  await inForm('add-user', 'password').fill('secret');
  await byId('tag-management').click();
  await byId('add-user-submit').click();
  await notice(/User alice added/);
  await byId('row-alice').waitFor();
  await until('/users/alice', (r) => r.status === 200 && r.body.tags.includes('management'), 'user alice');
  await shot('users');
});

await step('give the user permissions, topic permissions and set a vhost limit', async () => {
  await goto('vhosts/shop', 'vhost');
  await inForm('set-permission', 'other').selectOption('alice');
  await inForm('set-permission', 'write').fill('^orders');
  await byId('set-permission-submit').click();
  await notice(/Permission of alice in shop set/);
  await byId('permissions-table').getByTestId('row-alice').waitFor();
  await until('/permissions/shop/alice', (r) => r.status === 200 && r.body.write === '^orders', 'permission');
  await inForm('set-topic-permission', 'other').selectOption('alice');
  await byId('set-topic-permission-submit').click();
  await notice(/Topic permission of alice in shop set/);
  await byId('row-alice:amq.topic').waitFor();
  await until('/topic-permissions/shop/alice', (r) => r.status === 200, 'topic permission');
  await inForm('set-limit', 'limit').selectOption('max-queues');
  await inForm('set-limit', 'value').fill('500');
  await byId('set-limit-submit').click();
  await notice(/Limit max-queues set/);
  await until('/vhost-limits/shop', (r) => r.body?.[0]?.value?.['max-queues'] === 500, 'limit');
  await shot('vhost');
  await goto('users/alice', 'user');
  await byId('permissions-table').getByTestId('row-shop').waitFor();
  await byId('tag-monitoring').click();
  await byId('update-user-submit').click();
  await notice(/User alice updated/);
  await until('/users/alice', (r) => r.body.tags.includes('monitoring'), 'tags updated');
  const alice = await apiClient(warren.http, 'alice', 'secret')('GET', '/whoami');
  assert(alice.status === 200, `alice keeps her password: ${alice.status}`);
  await shot('user');
});

await step('declare an exchange with an alternate exchange', async () => {
  await goto('exchanges', 'exchanges');
  await inForm('add-exchange', 'vhost').selectOption('shop');
  await inForm('add-exchange', 'name').fill('orders');
  await inForm('add-exchange', 'type').selectOption('topic');
  await byId('add-exchange').getByTestId('arg-alternate-exchange').click();
  await page.keyboard.type('amq.fanout');
  await byId('add-exchange-submit').click();
  await notice(/Exchange orders declared/);
  const x = await until('/exchanges/shop/orders', (r) => r.status === 200, 'exchange');
  assert(x.body.type === 'topic', `type ${x.body.type}`);
  assert(x.body.arguments['alternate-exchange'] === 'amq.fanout', `arguments ${JSON.stringify(x.body.arguments)}`);
  await shot('exchanges');
});

await step('declare queues with typed arguments', async () => {
  await goto('queues', 'queues');
  await inForm('add-queue', 'vhost').selectOption('shop');
  await inForm('add-queue', 'name').fill('invoices');
  await byId('add-queue').getByTestId('arg-x-max-length').click();
  await page.keyboard.type('1000');
  await byId('add-queue').getByTestId('arg-x-single-active-consumer').click();
  await byId('add-queue-submit').click();
  await notice(/Queue invoices declared/);
  const q = await until('/queues/shop/invoices', (r) => r.status === 200, 'queue');
  assert(q.body.arguments['x-max-length'] === 1000, `arguments ${JSON.stringify(q.body.arguments)}`);
  assert(q.body.arguments['x-single-active-consumer'] === true, `arguments ${JSON.stringify(q.body.arguments)}`);
  await inForm('add-queue', 'vhost').selectOption('shop');
  await inForm('add-queue', 'name').fill('audit');
  await byId('add-queue-submit').click();
  await notice(/Queue audit declared/);
  await until('/queues/shop/audit', (r) => r.status === 200, 'queue audit');
  await byId('vhost-select').selectOption('shop');
  await page.locator('[data-testid="page-queues"][data-ready=true]').waitFor();
  await waitText(byId('counts'), /^1–2 of 2 in all$/);
  await byId('queues-table').getByTestId('row-invoices').waitFor();
  await byId('vhost-select').selectOption('');
});

await step('a failing declare shows the API reason', async () => {
  await inForm('add-queue', 'vhost').selectOption('shop');
  await inForm('add-queue', 'name').fill('invoices');
  await inForm('add-queue', 'durable').selectOption('false');
  await byId('add-queue-submit').click();
  await error(/inequivalent arg 'durable'/);
  await byId('add-queue').getByTestId('arg-x-max-length').click();
  await page.keyboard.type('lots');
  await byId('add-queue-submit').click();
  await error(/x-max-length: "lots" is not a number/);
});

await step('bind from the exchange page', async () => {
  await goto('exchanges/shop/orders', 'exchange');
  await inForm('add-binding-from', 'dest_type').selectOption('queue');
  await inForm('add-binding-from', 'destination').fill('invoices');
  await inForm('add-binding-from', 'routing_key').fill('invoice.*');
  await byId('add-binding-from-submit').click();
  await notice(/Bound orders to invoices/);
  await byId('bindings-from').getByTestId('row-orders:invoices:invoice.*').waitFor();
  await until('/queues/shop/invoices/bindings', (r) => r.body.some((b) => b.source === 'orders' && b.routing_key === 'invoice.*'), 'binding');
  await inForm('add-binding-from', 'destination').fill('no-such-queue');
  await byId('add-binding-from-submit').click();
  await error(/no queue 'no-such-queue'|Not Found/);
});

await step('bind from the queue page', async () => {
  await goto('queues/shop/audit', 'queue');
  await inForm('add-binding-to', 'source').fill('orders');
  await inForm('add-binding-to', 'routing_key').fill('#');
  await byId('add-binding-to-submit').click();
  await notice(/Bound orders to audit/);
  await byId('bindings-to').getByTestId('row-orders:audit:#').waitFor();
  await until('/queues/shop/audit/bindings', (r) => r.body.some((b) => b.source === 'orders' && b.routing_key === '#'), 'binding');
});

await step('publish from the exchange page', async () => {
  await goto('exchanges/shop/orders', 'exchange');
  await inForm('publish', 'routing_key').fill('invoice.created');
  await inForm('publish', 'delivery_mode').selectOption('2');
  await byId('field-headers').locator('.arg-key').first().fill('x-source');
  await byId('field-headers').locator('.arg-value').first().fill('console');
  await byId('publish').getByTestId('arg-content_type').click();
  await inForm('publish', 'payload').fill('hello from the console');
  await byId('publish-submit').click();
  await notice(/^Message published\.$/);
  await until('/queues/shop/invoices', (r) => r.body.messages === 1, 'one message in invoices');
  await shot('exchange');
});

await step('get the message from the queue page', async () => {
  await goto('queues/shop/invoices', 'queue');
  await inForm('get-messages', 'ackmode').selectOption('ack_requeue_true');
  await byId('get-messages-submit').click();
  await notice(/1 message fetched/);
  await waitText(byId('message-1').getByTestId('payload'), /^hello from the console$/);
  const text = await byId('message-1').innerText();
  assert(/invoice\.created/.test(text) && /"delivery_mode": 2/.test(text) && /"x-source": "console"/.test(text), `message shown: ${text}`);
  await waitText(byId('messages-ready'), /^1$/);
  await shot('queue');
});

await step('purge from the queue page', async () => {
  await byId('purge').click();
  await notice(/Queue invoices purged/);
  await until('/queues/shop/invoices', (r) => r.body.messages === 0, 'purged');
  await byId('get-messages-submit').click();
  await byId('queue-empty').waitFor();
});

await step('connections and channels: lists, details, consumers', async () => {
  const [host, port] = warren.amqp.split(':');
  client = await connect({ host, port: Number(port), vhost: 'shop', name: 'console-test-client', prefetch: 10 });
  await client.consume('audit', 'watcher');
  await goto('connections', 'connections');
  await waitText(byId('connections-table'), /console-test-client/);
  await shot('connections');
  await byId('connections-table').locator('tbody a').first().click();
  await page.locator('[data-testid="page-connection"][data-ready=true]').waitFor();
  await waitText(byId('client-properties'), /console-test-client/);
  await waitText(byId('channels-table'), /guest/);
  await shot('connection');
  await goto('channels', 'channels');
  await waitText(byId('channels-table'), /guest/);
  await shot('channels');
  await byId('channels-table').locator('tbody a').first().click();
  await page.locator('[data-testid="page-channel"][data-ready=true]').waitFor();
  await waitText(byId('channel-facts'), /Prefetch count\s+10/);
  await byId('consumers-table').getByTestId('row-watcher').waitFor();
  await shot('channel');
  await goto('queues/shop/audit', 'queue');
  await byId('consumers-table').getByTestId('row-watcher').waitFor();
});

await step('close a connection with a reason', async () => {
  await goto('connections', 'connections');
  await byId('connections-table').locator('tbody a').first().click();
  await page.locator('[data-testid="page-connection"][data-ready=true]').waitFor();
  await inForm('close-connection', 'reason').fill('closed by the console test');
  await byId('close-connection-submit').click();
  const closed = await Promise.race([client.closed, new Promise((r) => setTimeout(() => r(null), 5000))]);
  assert(closed && closed.code === 320 && /closed by the console test/.test(closed.text), `client saw ${JSON.stringify(closed)}`);
  await page.locator('[data-testid="page-connections"][data-ready=true]').waitFor();
  client.close();
});

await step('TLS: the list marks TLS connections, the page shows the session and peer certificate', async () => {
  const [host, port] = warren.amqp.split(':');
  const tlsPort = Number(warren.amqps.split(':')[1]);
  const { ca, client: cert } = warren.certs;
  const opened = await Promise.all([
    connect({ host, port: Number(port), name: 'console-plain' }),
    connect({ host, port: tlsPort, name: 'console-tls-cert', tls: { ca, ...cert } }),
    connect({ host, port: tlsPort, name: 'console-tls-anon', tls: { ca } }),
  ]);
  try {
    const all = (await until('/connections', (r) => r.body.length === 3, 'three connections')).body;
    const byName = Object.fromEntries(all.map((c) => [c.user_provided_name, c]));
    const withCert = byName['console-tls-cert'];
    assert(withCert.ssl && withCert.peer_cert_subject === 'CN=console-tls,O=Console tests', JSON.stringify(withCert));
    await goto('connections', 'connections');
    const row = (name) => byId('connections-table').locator('tbody tr', { hasText: name });
    await waitText(byId('connections-table'), /console-tls-anon/);
    for (const [name, mark] of [['console-plain', 'tls-no'], ['console-tls-cert', 'tls-yes'], ['console-tls-anon', 'tls-yes']]) {
      await row(name).getByTestId(mark).waitFor();
      assert(await row(name).getByTestId(mark === 'tls-yes' ? 'tls-no' : 'tls-yes').count() === 0, `${name}: both marks`);
    }
    assert(await byId('connections-table').locator('th', { hasText: 'SSL / TLS' }).count() === 1, 'no SSL / TLS column');
    await shot('connections-tls');

    // The page shows what the API reports for the session, and the peer certificate.
    await row('console-tls-cert').locator('a').first().click();
    await page.locator('[data-testid="page-connection"][data-ready=true]').waitFor();
    const facts = byId('tls-facts');
    await waitText(facts, /Peer certificate subject\s+CN=console-tls,O=Console tests/);
    const text = await facts.innerText();
    for (const [label, key] of [['Protocol', 'ssl_protocol'], ['Cipher', 'ssl_cipher'], ['Key exchange', 'ssl_key_exchange'],
      ['Hash', 'ssl_hash'], ['Peer certificate issuer', 'peer_cert_issuer'], ['Peer certificate validity', 'peer_cert_validity']]) {
      assert(withCert[key] && text.includes(`${label}\t${withCert[key]}`), `${label}: ${withCert[key]} not in ${JSON.stringify(text)}`);
    }
    assert(/Protocol\ttlsv1\.3/.test(text) && /Peer certificate issuer\tCN=Console test CA/.test(text), text);
    await shot('connection-tls');

    await goto('connections', 'connections');
    await row('console-tls-anon').locator('a').first().click();
    await page.locator('[data-testid="page-connection"][data-ready=true]').waitFor();
    await waitText(byId('tls-facts'), /Protocol\s+tlsv1\.3[\s\S]*Peer certificate subject\s+none[\s\S]*Peer certificate validity\s+none/);

    await goto('connections', 'connections');
    await row('console-plain').locator('a').first().click();
    await page.locator('[data-testid="page-connection"][data-ready=true]').waitFor();
    await waitText(byId('client-properties'), /console-plain/);
    const plain = await waitText(byId('tls-facts'), /TLS\s+none/);
    assert(!/Protocol|Cipher|Peer certificate/.test(plain), `plain connection: ${plain}`);
  } finally {
    opened.forEach((c) => c.close());
  }
  await until('/connections', (r) => r.body.length === 0, 'connections closed');
});

await step('unbind from the queue page and from the exchange page', async () => {
  await goto('queues/shop/audit', 'queue');
  await byId('unbind-orders:audit:#').click();
  await notice(/Binding from orders to audit removed/);
  await byId('row-orders:audit:#').waitFor({ state: 'detached' });
  await until('/queues/shop/audit/bindings', (r) => !r.body.some((b) => b.source === 'orders'), 'unbound');
  await goto('exchanges/shop/orders', 'exchange');
  await byId('unbind-orders:invoices:invoice.*').click();
  await notice(/Binding from orders to invoices removed/);
  await until('/exchanges/shop/orders/bindings/source', (r) => r.body.length === 0, 'unbound');
});

await step('policies and operator policies', async () => {
  await goto('policies', 'policies');
  await inForm('add-policies', 'vhost').selectOption('shop');
  await inForm('add-policies', 'name').fill('ttl');
  await inForm('add-policies', 'pattern').fill('^invoices$');
  await inForm('add-policies', 'apply-to').selectOption('queues');
  await byId('add-policies').getByTestId('arg-message-ttl').click();
  await page.keyboard.type('60000');
  await byId('add-policies-submit').click();
  await notice(/Saved the policy ttl/);
  await byId('policies-table').getByTestId('row-ttl').waitFor();
  await until('/policies/shop/ttl', (r) => r.body?.definition?.['message-ttl'] === 60000, 'policy');
  await inForm('add-operator-policies', 'vhost').selectOption('shop');
  await inForm('add-operator-policies', 'name').fill('cap');
  await inForm('add-operator-policies', 'pattern').fill('.*');
  await byId('add-operator-policies').getByTestId('arg-max-length').click();
  await page.keyboard.type('10000');
  await byId('add-operator-policies-submit').click();
  await notice(/Saved the operator policy cap/);
  await byId('operator-policies-table').getByTestId('row-cap').waitFor();
  await until('/operator-policies/shop/cap', (r) => r.body?.definition?.['max-length'] === 10000, 'operator policy');
  await shot('policies');
  await byId('policies-table').getByTestId('delete-ttl').click();
  await notice(/Deleted the policy ttl/);
  await until('/policies/shop/ttl', (r) => r.status === 404, 'policy deleted');
});

await step('definitions: export downloads a file, import uploads one', async () => {
  await goto('definitions', 'definitions');
  const [download] = await Promise.all([page.waitForEvent('download'), byId('export-definitions-submit').click()]);
  const file = join(tmpdir(), `warren-console-defs-${process.pid}.json`);
  await download.saveAs(file);
  const defs = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8'));
  assert(defs.vhosts.some((v) => v.name === 'shop') && defs.queues.some((q) => q.name === 'invoices'), 'export lacks shop');
  assert(/^warren_.*\.json$/.test(download.suggestedFilename()), download.suggestedFilename());
  const upload = join(tmpdir(), `warren-console-import-${process.pid}.json`);
  writeFileSync(upload, JSON.stringify({ queues: [{ name: 'imported', vhost: 'shop', durable: true, auto_delete: false, arguments: {} }] }));
  await inForm('import-definitions', 'file').setInputFiles(upload);
  await byId('import-definitions-submit').click();
  await notice(/Definitions imported/);
  await until('/queues/shop/imported', (r) => r.status === 200, 'imported queue');
  writeFileSync(upload, '{"queues": [');
  await inForm('import-definitions', 'file').setInputFiles(upload);
  await byId('import-definitions-submit').click();
  await error(/is not JSON/);
  await shot('definitions');
});

await step('delete a queue, an exchange, a user and a vhost from their pages', async () => {
  await goto('queues/shop/invoices', 'queue');
  await byId('delete').click();
  await page.locator('[data-testid="page-queues"][data-ready=true]').waitFor();
  await notice(/Queue invoices deleted/);
  await until('/queues/shop/invoices', (r) => r.status === 404, 'queue deleted');
  await goto('exchanges/shop/orders', 'exchange');
  await byId('delete').click();
  await page.locator('[data-testid="page-exchanges"][data-ready=true]').waitFor();
  await until('/exchanges/shop/orders', (r) => r.status === 404, 'exchange deleted');
  await goto('users/alice', 'user');
  await byId('delete').click();
  await page.locator('[data-testid="page-users"][data-ready=true]').waitFor();
  await until('/users/alice', (r) => r.status === 404, 'user deleted');
  await goto('vhosts/shop', 'vhost');
  await byId('delete').click();
  await page.locator('[data-testid="page-vhosts"][data-ready=true]').waitFor();
  await until('/vhosts/shop', (r) => r.status === 404, 'vhost deleted');
  await page.goto(`${base}/#/queues/shop/audit`);
  await error(/Not Found|not_found/);
});

await step(`${BULK} queues: the list pages, sorts and filters on the server, each page in under ${PAGE_BUDGET_MS} ms`, async () => {
  const queues = Array.from({ length: BULK }, (_, i) => ({
    name: `bulk-${String(i + 1).padStart(5, '0')}`, vhost: '/', durable: false, auto_delete: false, arguments: {},
  }));
  const t0 = Date.now();
  const r = await api('POST', '/definitions', { queues });
  assert(r.status < 300, `import: ${r.status} ${JSON.stringify(r.body)}`);
  console.log(`     (${BULK} queues created through a definitions import in ${Date.now() - t0} ms)`);
  const name = (n) => `bulk-${String(n).padStart(5, '0')}`;
  /** Resolves once the list is rendered, showing `rows` rows, the first being `first`. */
  const shows = (first, rows = 100) => page.waitForFunction(([id, n]) => {
    const table = document.querySelector('[data-testid="queues-table"]');
    const trs = table?.querySelectorAll('tbody tr') || [];
    return table?.dataset.state === 'ready' && trs.length === n && trs[0].dataset.testid === id;
  }, [`row-${first}`, rows], { polling: 'raf' });
  await page.goto(`${base}/#/`);
  await page.locator('[data-testid="page-overview"][data-ready=true]').waitFor();
  timings.first = await timed(() => page.goto(`${base}/#/queues`), () => shows(name(1)));
  await waitText(byId('counts'), /^1–100 of 10,000 in all$/);
  await waitText(byId('page-info'), /^Page 1 of 100$/);
  timings.next = await timed(() => byId('page-next').click(), () => shows(name(101)));
  await waitText(byId('page-info'), /^Page 2 of 100$/);
  timings.last = await timed(() => byId('page-select').selectOption('100'), () => shows(name(9901)));
  timings.filter = await timed(() => byId('filter').fill('bulk-0999'), () => shows(name(9990), 10));
  await waitText(byId('counts'), /^1–10 of 10 matching \(10,000 in all\)$/);
  await shot('queues');
  await byId('filter').fill('');
  await shows(name(1));
  await byId('sort-name').click();
  await shows(name(1));
  timings.reverse = await timed(() => byId('sort-name').click(), () => shows(name(10000)));
  timings.pageSize = await timed(() => byId('page-size').selectOption('500'), () => shows(name(10000), 500));
  console.log(`     page render times (ms): ${JSON.stringify(timings)}`);
  for (const [k, ms] of Object.entries(timings)) {
    assert(ms < PAGE_BUDGET_MS, `${k}: a page took ${ms} ms (bound ${PAGE_BUDGET_MS} ms)`);
  }
  await byId('page-size').selectOption('100');
  await byId('sort-name').click();
});

await step('log out', async () => {
  await goto('', 'overview');
  await waitText(byId('total-queues'), /10,000/);
  await page.waitForTimeout(500);
  await shot('overview');
  await byId('logout').click();
  await page.locator('[data-testid="page-login"][data-ready=true]').waitFor();
  await page.goto(`${base}/#/queues`);
  await page.locator('[data-testid="page-login"][data-ready=true]').waitFor();
});

await step('no script errors in the page', async () => {
  assert(pageErrors.length === 0, pageErrors.join('\n'));
});

await browser.close();
await warren.stop();
const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${shots}`);
process.exit(failed.length ? 1 : 0);
