"""pika (Python's ssl module) against Warren's AMQPS listener; run by tests/tls_pika.rs.

    client.py AMQPS_PORT HTTP_PORT CA_FILE CLIENT_CERT CLIENT_KEY STRANGER_CERT STRANGER_KEY

Checks, each over TLS to localhost:AMQPS_PORT trusting CA_FILE:
  1. PLAIN as guest/guest (no client certificate): publish, then basic_get it back;
  2. EXTERNAL with CLIENT_CERT (its CN names an existing user): logs in as that user;
  3. STRANGER_CERT (signed by a CA the broker does not trust): refused.
While a connection is open, the management API (plain HTTP on HTTP_PORT, as guest) must
show it with TLS details, its user and its mechanism.
Exits 0 when all pass, 1 when one fails, 2 when pika is not installed.
"""

import base64
import json
import ssl
import sys
import urllib.request

try:
    import pika
    import pika.exceptions
except ImportError:
    print("pika is not installed: python3 -m pip install pika", file=sys.stderr)
    sys.exit(2)


def params(port, ca_file, name, cert=None, key=None, credentials=None):
    context = ssl.create_default_context(cafile=ca_file)
    if cert:
        context.load_cert_chain(cert, key)
    return pika.ConnectionParameters(
        host="localhost",
        port=port,
        credentials=credentials or pika.PlainCredentials("guest", "guest"),
        client_properties={"connection_name": name},
        ssl_options=pika.SSLOptions(context, server_hostname="localhost"),
        connection_attempts=1,
        socket_timeout=10,
        blocked_connection_timeout=10,
    )


def round_trip(conn, body):
    ch = conn.channel()
    q = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.basic_publish(exchange="", routing_key=q, body=body)
    for _ in range(50):
        method, _props, got = ch.basic_get(queue=q, auto_ack=True)
        if method is not None:
            break
        conn.sleep(0.02)
    else:
        raise AssertionError("the message did not come back from %s" % q)
    if got != body:
        raise AssertionError("got %r back, sent %r" % (got, body))
    ch.close()


def api_connection(http_port, name):
    """The management API's record of the connection named `name` (user_provided_name)."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/connections" % http_port)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        conns = json.load(r)
    found = [c for c in conns if c.get("user_provided_name") == name]
    if len(found) != 1:
        raise AssertionError("%d connections named %r in %r" % (len(found), name, conns))
    return found[0]


def expect(record, **fields):
    for k, v in fields.items():
        if record.get(k) != v:
            raise AssertionError("%s is %r, not %r, in %r" % (k, record.get(k), v, record))


def plain_login(port, http_port, ca_file):
    conn = pika.BlockingConnection(params(port, ca_file, "pika-plain"))
    try:
        c = api_connection(http_port, "pika-plain")
        expect(c, ssl=True, user="guest", auth_mechanism="PLAIN", peer_cert_subject=None)
        if c.get("ssl_protocol") not in ("tlsv1.2", "tlsv1.3"):
            raise AssertionError("ssl_protocol %r" % c.get("ssl_protocol"))
        round_trip(conn, b"pika over tls")
        # Bigger than a TLS record (16 KiB) and than one frame.
        round_trip(conn, bytes(range(256)) * 2048)
    finally:
        conn.close()


def external_login(port, http_port, ca_file, cert, key):
    conn = pika.BlockingConnection(
        params(port, ca_file, "pika-external", cert, key, pika.credentials.ExternalCredentials())
    )
    try:
        c = api_connection(http_port, "pika-external")
        expect(c, ssl=True, user="client", auth_mechanism="EXTERNAL",
               peer_cert_subject="CN=client,O=Warren tests")
        round_trip(conn, b"logged in by certificate")
    finally:
        conn.close()


def stranger_refused(port, ca_file, cert, key):
    try:
        conn = pika.BlockingConnection(params(port, ca_file, "pika-stranger", cert, key))
    except pika.exceptions.AMQPConnectionError as e:
        # The broker's alert, not any failure (a wrong port or CA would fail here too).
        if "UNKNOWN_CA" not in repr(e):
            raise AssertionError("refused, but not by the broker's TLS alert: %r" % e)
        print("    refused as expected: %r" % e)
        return
    conn.close()
    raise AssertionError("a certificate from an unknown CA was accepted")


def main(argv):
    if len(argv) != 8:
        print(__doc__, file=sys.stderr)
        return 1
    port, http_port = int(argv[1]), int(argv[2])
    ca_file, cert, key, stranger_cert, stranger_key = argv[3:]
    print("pika %s, %s" % (pika.__version__, ssl.OPENSSL_VERSION))
    checks = [
        ("PLAIN guest/guest: publish and basic_get", lambda: plain_login(port, http_port, ca_file)),
        ("EXTERNAL with a client certificate", lambda: external_login(port, http_port, ca_file, cert, key)),
        ("a certificate from an unknown CA is refused",
         lambda: stranger_refused(port, ca_file, stranger_cert, stranger_key)),
    ]
    failed = 0
    for name, check in checks:
        try:
            check()
            print("ok   %s" % name)
        except Exception as e:  # any failure of a check is reported, then the next runs
            failed += 1
            print("FAIL %s: %r" % (name, e))
    print("pika over TLS: %d of %d checks failed" % (failed, len(checks)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
