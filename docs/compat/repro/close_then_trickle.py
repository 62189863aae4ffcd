import socket, struct, sys, time
import os
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'close_then_publish.py')).read().split("s.sendall(frame.Method(0, spec.Connection.Close")[0])
s.sendall(frame.Method(0, spec.Connection.Close(200, 'bye', 0, 0)).marshal())
time.sleep(0.2)
try:
    for i in range(50):
        s.sendall(pub * 100); time.sleep(0.02)
    print('all 5000 late publishes written without error')
except Exception as e: print('write after close-ok failed at chunk', i, repr(e))
try:
    while True: print('received:', read_frame())
except Exception as e: print('then:', repr(e))
