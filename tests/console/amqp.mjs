// Just enough AMQP 0-9-1 for the console tests to have a real client on the broker: open a
// connection (PLAIN) with a name, over TCP or TLS, a channel with a prefetch, a consumer,
// and learn the reason the broker gives when it closes the connection.

import net from 'node:net';
import tls from 'node:tls';

const FRAME_END = 0xce;

function shortstr(s) {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function longstr(s) {
  const b = Buffer.from(s);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A field table of string values. */
function table(obj) {
  const body = Buffer.concat(Object.entries(obj).map(([k, v]) => Buffer.concat([shortstr(k), Buffer.from('S'), longstr(v)])));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

function method(channel, cls, meth, ...args) {
  const payload = Buffer.concat([u16(cls), u16(meth), ...args]);
  return Buffer.concat([Buffer.from([1]), u16(channel), u32(payload.length), payload, Buffer.from([FRAME_END])]);
}

/**
 * Connects and opens channel 1; resolves to {close, closed, consume}. With `tls` ({ca, cert?,
 * key?}, PEM text) it speaks TLS, verifying the broker's certificate for localhost.
 */
export function connect({ host, port, user = 'guest', password = 'guest', vhost = '/', name = 'console-test-client', prefetch = 10, tls: secure = null }) {
  const sock = secure
    ? tls.connect({ host, port, servername: 'localhost', ca: secure.ca, cert: secure.cert, key: secure.key })
    : net.connect({ host, port });
  let buf = Buffer.alloc(0);
  const waiters = []; // [cls, meth, resolve]
  let closedBy = null;
  let onClosed;
  const closed = new Promise((r) => { onClosed = r; });

  function expect(cls, meth) {
    return new Promise((resolve, reject) => {
      waiters.push([cls, meth, resolve]);
      setTimeout(() => reject(new Error(`no ${cls}.${meth} from the broker`)), 5000);
    });
  }

  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(3);
      if (buf.length < size + 8) break;
      const type = buf[0];
      const channel = buf.readUInt16BE(1);
      const payload = buf.subarray(7, 7 + size);
      buf = buf.subarray(size + 8);
      if (type !== 1) continue;
      const cls = payload.readUInt16BE(0);
      const meth = payload.readUInt16BE(2);
      if (cls === 10 && meth === 50) {
        const code = payload.readUInt16BE(4);
        const text = payload.subarray(7, 7 + payload[6]).toString();
        closedBy = { code, text };
        sock.write(method(0, 10, 51));
        onClosed(closedBy);
        continue;
      }
      const i = waiters.findIndex(([c, m]) => c === cls && m === meth);
      if (i >= 0) waiters.splice(i, 1)[0][2]({ channel, payload });
    }
  });
  sock.on('close', () => onClosed(closedBy));

  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.once(secure ? 'secureConnect' : 'connect', async () => {
      try {
        const start = expect(10, 10);
        sock.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
        await start;
        const tune = expect(10, 30);
        sock.write(method(0, 10, 11, table({ connection_name: name, product: 'Warren console tests' }),
          shortstr('PLAIN'), longstr(`\0${user}\0${password}`), shortstr('en_US')));
        const { payload } = await tune;
        sock.write(method(0, 10, 31, u16(payload.readUInt16BE(4)), u32(payload.readUInt32BE(6)), u16(0)));
        const opened = expect(10, 41);
        sock.write(method(0, 10, 40, shortstr(vhost), shortstr(''), Buffer.from([0])));
        await opened;
        const chan = expect(20, 11);
        sock.write(method(1, 20, 10, shortstr('')));
        await chan;
        const qos = expect(60, 11);
        sock.write(method(1, 60, 10, u32(0), u16(prefetch), Buffer.from([0])));
        await qos;
        resolve({
          closed,
          async consume(queue, tag) {
            const ok = expect(60, 21);
            sock.write(method(1, 60, 20, u16(0), shortstr(queue), shortstr(tag), Buffer.from([0]), u32(0)));
            await ok;
          },
          close() {
            sock.destroy();
          },
        });
      } catch (e) {
        sock.destroy();
        reject(e);
      }
    });
  });
}
