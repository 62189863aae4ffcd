"""Wire-level repro: client sends connection.close, then (as amqplib does when its
channel buffer is still flushing) more basic.publish frames. Print what the broker sends back."""
import socket, struct, sys
from pika import spec, frame
from pika.credentials import PlainCredentials
port = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
s = socket.create_connection(('127.0.0.1', port))
def send(*frames): s.sendall(b''.join(f.marshal() for f in frames))
buf = b''
def read_frame():
    global buf
    while True:
        if len(buf) >= 7:
            t, ch, size = struct.unpack('>BHI', buf[:7])
            if len(buf) >= 8 + size:
                payload, buf = buf[7:7+size], buf[8+size:]
                if t == 1:
                    cid, mid = struct.unpack('>HH', payload[:4])
                    return ch, spec.methods[(cid << 16) | mid].__name__ if ((cid << 16) | mid) in spec.methods else (cid, mid)
                return ch, ('frame type', t)
        d = s.recv(65536)
        if not d: raise EOFError('EOF')
        buf += d
s.sendall(b'AMQP\x00\x00\x09\x01'); read_frame()
send(frame.Method(0, spec.Connection.StartOk({}, 'PLAIN', b'\0guest\0guest', 'en_US')))
read_frame()  # tune
send(frame.Method(0, spec.Connection.TuneOk(2047, 131072, 0)), frame.Method(0, spec.Connection.Open('/')))
read_frame(); send(frame.Method(1, spec.Channel.Open())); read_frame()
pub = b''.join(f.marshal() for f in (frame.Method(1, spec.Basic.Publish(exchange='', routing_key='nowhere')),
                                       frame.Header(1, 10, spec.BasicProperties()), frame.Body(1, b'x' * 10)))
s.sendall(frame.Method(0, spec.Connection.Close(200, 'bye', 0, 0)).marshal() + pub * n)
try:
    while True: print('received:', read_frame())
except Exception as e: print('then:', repr(e))
