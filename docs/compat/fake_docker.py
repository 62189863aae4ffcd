#!/usr/bin/env python3
"""Minimal stand-in for the Docker Engine API, for test suites (aio-pika, aiormq)
whose conftest insists on starting a `rabbitmq` container through the Docker API.

It never runs anything: every "container" it creates maps 5672/tcp to the broker
port given by --amqp-port (an already running broker on 127.0.0.1), and other ports
(5671 TLS, 15672 management) to --other-port (a closed port by default).

    python3 fake_docker.py --socket /tmp/fake-docker.sock --amqp-port 5672 &
    DOCKER_HOST=unix:///tmp/fake-docker.sock pytest tests
"""
import argparse
import json
import os
import socketserver
import uuid
from http.server import BaseHTTPRequestHandler

p = argparse.ArgumentParser()
p.add_argument("--socket", default="/tmp/fake-docker.sock")
p.add_argument("--amqp-port", type=int, default=5672)
p.add_argument("--other-port", type=int, default=1)
args = p.parse_args()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def address_string(self):
        return "unix"

    def _send(self, code, obj=None):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"null") if n else None
        if self.path.startswith("/images/create"):
            return self._send(200, {"status": "ok"})
        if self.path.startswith("/containers/create"):
            cid = uuid.uuid4().hex
            ports = list((body or {}).get("ExposedPorts", {}).keys())
            Handler.containers[cid] = ports
            return self._send(201, {"Id": cid, "Warnings": []})
        return self._send(204)

    def do_GET(self):
        if self.path.startswith("/containers/") and self.path.endswith("/json"):
            cid = self.path.split("/")[2]
            ports = {}
            for port in Handler.containers.get(cid, ["5672/tcp"]):
                hp = args.amqp_port if port == "5672/tcp" else args.other_port
                ports[port] = [{"HostIp": "127.0.0.1", "HostPort": str(hp)}]
            return self._send(200, {"Id": cid, "NetworkSettings": {"Ports": ports}})
        return self._send(200, {})

    def do_DELETE(self):
        return self._send(204)

    def log_message(self, *a):
        pass


Handler.containers = {}


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(args.socket):
    os.unlink(args.socket)
with Server(args.socket, Handler) as srv:
    srv.serve_forever()
