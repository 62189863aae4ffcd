const amqp = require(process.env.AMQPLIB ? process.env.AMQPLIB + '/channel_api' : 'amqplib');
(async () => {
  const c = await amqp.connect(process.argv[2]); const ch = await c.createConfirmChannel();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  let multi = 0, acks = 0; ch.on('ack', (a) => { acks++; if (a.multiple) multi++; });
  const ps = []; for (let i = 0; i < 640; i++) ps.push(new Promise((r) => ch.sendToQueue(q, Buffer.from('bleep'), {}, r)));
  await Promise.all(ps); console.log('basic.ack frames:', acks, 'with multiple=true:', multi); await c.close();
})();
