import pika, sys, logging
logging.disable(logging.CRITICAL)
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
for what, f in [('queue.unbind missing queue', lambda ch: ch.queue_unbind('no-such-q', 'amq.direct', 'rk')),
                ('queue.unbind missing exchange', lambda ch: (ch.queue_declare('unb-q', auto_delete=True), ch.queue_unbind('unb-q', 'no-such-x', 'rk'))),
                ('exchange.unbind missing source', lambda ch: ch.exchange_unbind('amq.fanout', 'no-such-x', 'rk')),
                ('exchange.unbind missing destination', lambda ch: ch.exchange_unbind('no-such-x', 'amq.fanout', 'rk'))]:
    ch = c.channel()
    try: f(ch); print(what, '-> ok')
    except Exception as e: print(what, '->', e)
