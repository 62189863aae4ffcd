import pika, sys, uuid
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
ch0 = c.channel(); ch1 = c.channel()
q = str(uuid.uuid4())
ch0.queue_declare(q, exclusive=True)
ch0.basic_consume(q, lambda *a: None, exclusive=True)
try:
    r = ch1.queue_declare(q); print("declare(exclusive=False) ->", r.method)
    ch1.basic_consume(q, lambda *a: None, exclusive=True); print("consume ok")
except Exception as e: print("ERR", repr(e))
