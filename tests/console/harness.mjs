// The browser tests' harness: a real Warren binary on free ports with a temporary data dir
// and an AMQPS listener (certificates made for the run), an API client for setting up and
// checking, and Debian's Chromium driven by playwright-core.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { makeCerts } from './certs.mjs';

/**
 * Starts `bin` with plain AMQP, HTTP and an AMQPS listener that asks for client
 * certificates (verify_peer, not required); resolves once its log names all three, to
 * {amqp, amqps, http, certs, log, stop}.
 */
export function startWarren(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'warren-console-'));
  mkdirSync(join(dir, 'certs'));
  const certs = makeCerts(join(dir, 'certs'));
  const config = join(dir, 'warren.toml');
  writeFileSync(config, [
    '[amqp.tls]', 'listen = "127.0.0.1:0"',
    `certfile = ${JSON.stringify(certs.files.cert)}`, `keyfile = ${JSON.stringify(certs.files.key)}`,
    `cacertfile = ${JSON.stringify(certs.files.ca)}`, 'verify = "verify_peer"', 'fail_if_no_peer_cert = false', '',
  ].join('\n'));
  const args = ['--config', config, '--data-dir', join(dir, 'data'), '--amqp-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'];
  const child = spawn(bin, args, {
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  // However the run ends (a failed launch, an exception), the broker does not outlive it.
  process.on('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    let amqp = null;
    let amqps = null;
    let http = null;
    const timer = setTimeout(() => fail(new Error('Warren did not log its listeners within 20 s')), 20000);
    function fail(e) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${e.message}\n${log.join('\n')}`));
    }
    const onLine = (line) => {
      log.push(line);
      amqp ??= line.match(/AMQP listening on ([0-9.:]+)/)?.[1] ?? null;
      amqps ??= line.match(/AMQP TLS listening on ([0-9.:]+)/)?.[1] ?? null;
      http ??= line.match(/HTTP API listening on ([0-9.:]+)/)?.[1] ?? null;
      if (amqp && amqps && http) {
        clearTimeout(timer);
        resolve({
          amqp, amqps, http, certs, log,
          async stop() {
            child.kill('SIGTERM');
            await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
            rmSync(dir, { recursive: true, force: true });
          },
        });
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (d) => {
        const lines = (rest + d).split('\n');
        rest = lines.pop();
        lines.forEach(onLine);
      });
    }
    child.once('error', fail);
    child.once('exit', (code) => { if (!(amqp && amqps && http)) fail(new Error(`Warren exited with ${code}`)); });
  });
}

/** A management API client for setup and checks (not the console's own client). */
export function apiClient(http, user = 'guest', password = 'guest') {
  const auth = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  return async function api(method, path, body) {
    const res = await fetch(`http://${http}/api${path}`, {
      method,
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
