// Drives real BullMQ (the version pinned in package.json) on the test's redis-server, leaving
// queues in a known state for tests/it/bullmq.rs, then prints what BullMQ itself reports as JSON.
// Usage: REDIS_PORT=6379 node drive.js
'use strict';
const { Queue, Worker } = require('bullmq');

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, ms = 20000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

(async () => {
  const render = new Queue('render', { connection });
  const mail = new Queue('mail', { connection });

  // Finished jobs: 2 completed, 2 failed (one after a retry).
  const worker = new Worker('render', async (job) => {
    await sleep(job.data.ms);
    if (job.name === 'boom') throw new Error('render failed');
    return { ok: true };
  }, { connection, concurrency: 2 });
  await render.add('ok', { ms: 30 });
  await render.add('ok', { ms: 60 });
  await render.add('boom', { ms: 20 }, { attempts: 2, backoff: { type: 'fixed', delay: 10 } });
  await render.add('boom', { ms: 40 }, { attempts: 1 });
  await until('4 finished jobs', async () => {
    const c = await render.getJobCounts('completed', 'failed');
    return c.completed === 2 && c.failed === 2;
  });
  await worker.close();

  // One job held active by a worker that never finishes it (the process exits under it).
  const busy = new Worker('render', () => new Promise(() => {}), { connection, concurrency: 1 });
  await render.add('long', { ms: 0 });
  await until('an active job', async () => (await render.getJobCounts('active')).active === 1);

  // Waiting, prioritized, delayed (one not due for an hour, one due in 200 ms that no worker
  // promotes: the only worker is busy).
  await render.add('w', {}); await render.add('w', {}); await render.add('w', {});
  await render.add('p', {}, { priority: 5 }); await render.add('p', {}, { priority: 1 });
  await render.add('later', {}, { delay: 3600000 });
  await render.add('soon', {}, { delay: 200 });

  // A paused queue: 2 jobs before the pause, 1 after.
  await mail.add('m', {}); await mail.add('m', {});
  await mail.pause();
  await mail.add('m', {});

  await sleep(400);
  const finished = [...(await render.getJobs(['completed'])), ...(await render.getJobs(['failed']))];
  const out = {
    version: require('bullmq/package.json').version,
    render: await render.getJobCounts(),
    mail: await mail.getJobCounts(),
    mailPaused: await mail.isPaused(),
    processing_ms: finished.map((j) => j.finishedOn - j.processedOn),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  // Leave the busy worker's job active: exit without closing it.
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
