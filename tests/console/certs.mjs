// Certificates for the TLS steps, made here with the openssl CLI (OpenSSL 3, as README's
// recipe): a CA, a server certificate for localhost and 127.0.0.1, and a client certificate
// `O=Console tests, CN=console-tls`. Nothing is kept between runs.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(dir, ...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Writes ca.crt, server.{crt,key} and client.{crt,key} to `dir`; returns paths and PEM text. */
export function makeCerts(dir) {
  openssl(dir, 'req', '-x509', ...EC, '-days', '2', '-subj', '/CN=Console test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl(dir, 'req', ...EC, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', 'server.key', '-out', 'server.csr');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-copy_extensions', 'copy', '-out', 'server.crt');
  // An extension makes it an X.509 v3 certificate: rustls (webpki) refuses v1, which
  // `openssl x509 -req` makes from a request without extensions.
  openssl(dir, 'req', ...EC, '-subj', '/O=Console tests/CN=console-tls', '-addext', 'extendedKeyUsage=clientAuth',
    '-keyout', 'client.key', '-out', 'client.csr');
  openssl(dir, 'x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-copy_extensions', 'copy', '-out', 'client.crt');
  const file = (name) => join(dir, name);
  const pem = (name) => readFileSync(file(name), 'utf8');
  return {
    files: { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') },
    ca: pem('ca.crt'),
    client: { cert: pem('client.crt'), key: pem('client.key') },
  };
}
