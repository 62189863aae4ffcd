const amqp = require(process.env.AMQPLIB ? process.env.AMQPLIB + '/callback_api' : 'amqplib/callback_api');
const url = process.argv[2];
const t0 = Date.now();
amqp.connect(url, (err, c) => {
  if (err) throw err;
  c.createChannel((err, ch) => {
    ch.assertQueue('', { exclusive: true }, (err, ok) => {
      let n = 0;
      while (ch.sendToQueue(ok.queue, Buffer.from('x'.repeat(10)))) n++;
      console.log('buffered publishes before sendToQueue returned false:', n);
      c.on('error', (e) => console.log('conn error', e.message));
      c.on('close', (e) => console.log('conn close event', e && e.message));
      c.close((e) => { console.log('close callback after', Date.now() - t0, 'ms', e && e.message); process.exit(0); });
    });
  });
});
setTimeout(() => { console.log('TIMEOUT: no close-ok after 15 s'); process.exit(1); }, 15000);
