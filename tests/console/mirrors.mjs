// The console's mirrored-queue view against a real 3-node Warren cluster (three processes on
// free loopback ports): node tests/console/mirrors.mjs [warren] (or WARREN_BIN=...). A queue
// with messages gets an ha-mode "all" policy, so its two mirrors start unsynchronised; the
// queue page lists them as such, "Synchronise" synchronises them (checked in the page and
// through the API), and a queue that is not mirrored shows no mirrors. A screenshot goes to
// docs/console/queue-mirrors.png. Exits non-zero if any step fails; the nodes never outlive it.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiClient, launchBrowser } from './harness.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = resolve(process.argv[2] || process.env.WARREN_BIN || join(repo, 'target/release/warren'));
const shots = join(repo, 'docs/console');
const QUEUE = 'ha.console';
const PLAIN = 'plain.console';
const MESSAGES = 50;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free loopback port (the cluster links must be known before any node starts). */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'warren-console-mirrors-'));
const nodes = [];
// However the run ends, no node outlives it.
process.on('exit', () => {
  for (const n of nodes) if (n.child.exitCode === null) n.child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** Starts node i (1-based); resolves to {name, amqp, http, child, log} once it logs its listeners. */
function startNode(i, links) {
  const name = `warren-${i}@localhost`;
  const home = join(dir, `node${i}`);
  mkdirSync(home);
  const config = join(home, 'warren.toml');
  writeFileSync(config, [
    `node_name = "${name}"`, '[cluster]', `listen = "127.0.0.1:${links[i - 1]}"`, 'cookie = "console-test-cookie"',
    `peers = [${links.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`, 'node_type = "disc"', 'net_ticktime = 3', '',
  ].join('\n'));
  const log = join(home, 'log');
  const child = spawn(bin, ['--config', config, '--data-dir', join(home, 'data'),
    '--amqp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], {
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node = { name, child, log, amqp: null, http: null };
  nodes.push(node);
  const out = createWriteStream(log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not log its listeners within 60 s`)), 60000);
    let rest = '';
    const onData = (d) => {
      out.write(d);
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        node.amqp ??= line.match(/AMQP listening on ([0-9.:]+)/)?.[1] ?? null;
        node.http ??= line.match(/HTTP API listening on ([0-9.:]+)/)?.[1] ?? null;
      }
      if (node.amqp && node.http) {
        clearTimeout(timer);
        resolve(node);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** SIGTERM to every node, SIGKILL to any still running after 15 s. */
async function stopAll() {
  await Promise.all(nodes.map(({ child }) => {
    if (child.exitCode !== null || child.signalCode !== null) return null;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15000);
    return gone.then(() => clearTimeout(t));
  }));
}

function tails() {
  return nodes.map((n) => {
    let text = '';
    try { text = readFileSync(n.log, 'utf8').slice(-3000); } catch { /* not written */ }
    return `--- ${n.name}, the end of its log:\n${text}`;
  }).join('\n');
}

// The cluster: three nodes, formed when each one's /api/cluster shows 3 running nodes and a leader.
const t0 = Date.now();
const links = [await freePort(), await freePort(), await freePort()];
try {
  await Promise.all([1, 2, 3].map((i) => startNode(i, links)));
  const end = Date.now() + 90000;
  for (let formed = false; !formed;) {
    if (Date.now() > end) throw new Error('the cluster did not form within 90 s');
    const st = await Promise.all(nodes.map((n) => apiClient(n.http)('GET', '/cluster').catch(() => null)));
    formed = st.every((s) => s?.status === 200 && s.body.running_nodes?.length === 3 && s.body.leader);
    if (!formed) await sleep(500);
  }
} catch (e) {
  console.log(`FAIL start a 3-node cluster: ${e.stack || e}\n${tails()}`);
  await stopAll();
  process.exit(1);
}
console.log(`ok   a 3-node cluster formed (${Date.now() - t0} ms): ${nodes.map((n) => `${n.name} http ${n.http}`).join(', ')}`);

const api = apiClient(nodes[0].http);
const base = `http://${nodes[0].http}`;
mkdirSync(shots, { recursive: true });
const browser = await launchBrowser();
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const byId = (id) => page.getByTestId(id);

async function goto(hash, name) {
  await page.goto(`${base}/#/${hash}`);
  await page.locator(`[data-testid="page-${name}"][data-ready=true]`).waitFor();
}

/** Waits until the locator's text matches (the queue page refreshes itself every 5 s). */
async function waitText(locator, re, timeout = 15000) {
  const end = Date.now() + timeout;
  let text = '';
  while (Date.now() < end) {
    text = await locator.innerText().catch(() => '');
    if (re.test(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`expected ${re}, saw ${JSON.stringify(text)}`);
}

async function notice(re) {
  if (await byId('error').isVisible()) throw new Error(`the console shows an error: ${await byId('error').innerText()}`);
  await waitText(byId('notice'), re);
}

/** Polls the API until `check(body)` holds. */
async function until(path, check, what, timeout = 30000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await api('GET', path);
    if (check(last)) return last;
    await sleep(200);
  }
  throw new Error(`${what}: ${path} answered ${last.status} ${JSON.stringify(last.body)?.slice(0, 400)}`);
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const results = [];
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e.stack || e}`);
    await page.screenshot({ path: join(tmpdir(), `console-failure-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

const path = `/queues/%2F/${encodeURIComponent(QUEUE)}`;
let master = null;
let mirrors = [];

await step('a queue with messages gets an ha-mode all policy: two unsynchronised mirrors', async () => {
  for (const name of [QUEUE, PLAIN]) {
    const r = await api('PUT', `/queues/%2F/${encodeURIComponent(name)}`, { durable: true });
    assert(r.status === 201 || r.status === 204, `declare ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (let i = 0; i < MESSAGES; i++) {
    const r = await api('POST', '/exchanges/%2F/amq.default/publish', {
      routing_key: QUEUE, payload: 'x', payload_encoding: 'string', properties: { delivery_mode: 2 },
    });
    assert(r.status === 200 && r.body.routed === true, `publish ${i + 1}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  await until(path, (r) => r.body?.messages === MESSAGES, `${MESSAGES} messages in ${QUEUE}`);
  const p = await api('PUT', '/policies/%2F/ha', { pattern: '^ha\\.', 'apply-to': 'queues', definition: { 'ha-mode': 'all' } });
  assert(p.status === 201 || p.status === 204, `policy: ${p.status} ${JSON.stringify(p.body)}`);
  const q = (await until(path, (r) => r.body?.slave_nodes?.length === 2, 'two mirrors', 60000)).body;
  master = q.node;
  mirrors = [...q.slave_nodes].sort();
  const all = nodes.map((n) => n.name).sort();
  assert(JSON.stringify([master, ...mirrors].sort()) === JSON.stringify(all), `master ${master}, mirrors ${mirrors}: not the three nodes`);
  assert((q.synchronised_slave_nodes || []).length === 0, `the mirrors start unsynchronised: ${JSON.stringify(q.synchronised_slave_nodes)}`);
});

await step('log in and open the mirrored queue: its node and both mirrors, unsynchronised', async () => {
  await page.goto(`${base}/`);
  await page.locator('[data-testid="page-login"][data-ready=true]').waitFor();
  await byId('login-form').locator('[name="username"]').fill('guest');
  await byId('login-form').locator('[name="password"]').fill('guest');
  await byId('login-form-submit').click();
  await page.locator('[data-testid="page-overview"][data-ready=true]').waitFor();
  await goto(`queues/%2F/${encodeURIComponent(QUEUE)}`, 'queue');
  await waitText(byId('queue-node'), new RegExp(`^${master}$`));
  for (const m of mirrors) await waitText(byId(`mirror-${m}`), new RegExp(`^${m} \\(unsynchronised\\)$`));
  await waitText(byId('details-section'), /Mirrors/);
  await byId('sync').waitFor();
  await byId('cancel-sync').waitFor();
  await page.screenshot({ path: join(shots, 'queue-mirrors.png'), fullPage: true });
});

await step('"Cancel synchronisation" posts cancel_sync: the mirrors stay unsynchronised', async () => {
  await byId('cancel-sync').click();
  await notice(new RegExp(`Synchronisation of ${QUEUE.replace('.', '\\.')} cancelled`));
  const q = (await api('GET', path)).body;
  assert((q.synchronised_slave_nodes || []).length === 0, `after cancel_sync: ${JSON.stringify(q.synchronised_slave_nodes)}`);
  for (const m of mirrors) await waitText(byId(`mirror-${m}`), /\(unsynchronised\)$/);
});

await step('"Synchronise" synchronises both mirrors, in the page and in the API', async () => {
  await byId('sync').click();
  await notice(new RegExp(`Synchronising ${QUEUE.replace('.', '\\.')}`));
  for (const m of mirrors) await waitText(byId(`mirror-${m}`), new RegExp(`^${m}$`), 60000);
  const q = (await until(path, (r) => r.body?.synchronised_slave_nodes?.length === 2, 'both mirrors synchronised')).body;
  assert(JSON.stringify([...q.synchronised_slave_nodes].sort()) === JSON.stringify(mirrors), `synchronised ${q.synchronised_slave_nodes}, mirrors ${mirrors}`);
  assert(q.messages === MESSAGES, `messages after the sync: ${q.messages}`);
  assert(await byId('sync').count() === 0, 'the Synchronise button stays once all are synchronised');
  assert(await byId('cancel-sync').count() === 0, 'the Cancel synchronisation button stays once all are synchronised');
});

await step('a queue that is not mirrored shows no mirrors', async () => {
  const q = (await api('GET', `/queues/%2F/${PLAIN}`)).body;
  assert(!q.slave_nodes?.length, `${PLAIN} has mirrors: ${JSON.stringify(q.slave_nodes)}`);
  await goto(`queues/%2F/${PLAIN}`, 'queue');
  await waitText(byId('queue-node'), new RegExp(`^${q.node}$`));
  const details = await byId('details-section').innerText();
  assert(!/Mirrors|synchronis/i.test(details), `mirror details shown: ${JSON.stringify(details)}`);
  assert(await byId('mirrors').count() === 0 && await byId('sync').count() === 0, 'mirror elements shown');
});

await step('no script errors in the page', async () => {
  assert(pageErrors.length === 0, pageErrors.join('\n'));
});

await browser.close();
const failed = results.filter((r) => !r.ok);
if (failed.length) console.log(`${tails()}\n(the nodes' folders are kept in ${dir})`);
await stopAll();
if (!failed.length) rmSync(dir, { recursive: true, force: true });
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed in ${Math.round((Date.now() - t0) / 1000)} s; screenshot in ${shots}`);
process.exit(failed.length ? 1 : 0);
