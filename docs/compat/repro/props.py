import pika, sys, logging, json
logging.disable(logging.CRITICAL)
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
sp = c._impl.server_properties
print(json.dumps({k: (v.decode() if isinstance(v, bytes) else v) for k, v in sp.items()}, indent=1, sort_keys=True, default=str))
print('tune: channel_max', c._impl.params.channel_max, 'frame_max', c._impl.params.frame_max, 'heartbeat', c._impl.params.heartbeat)
