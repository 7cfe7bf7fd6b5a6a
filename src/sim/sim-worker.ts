/**
 * Worker process for `zab sim --jobs J`: runs the seeds the parent sends over IPC, one at a time,
 * and sends each result back. Exits when the parent disconnects.
 */
import { runSeedSafe, type WorkerReply, type WorkerRequest } from './sim-command.js';

if (!process.send) {
  process.stderr.write('sim-worker: this module is started by `zab sim --jobs J`, not directly\n');
  process.exit(2);
}

let chain: Promise<void> = Promise.resolve();
process.on('message', (m: WorkerRequest) => {
  if (m.type !== 'run') return;
  // One seed at a time, in the order received.
  chain = chain.then(async () => {
    const t0 = performance.now();
    const result = await runSeedSafe(m.options);
    const reply: WorkerReply = { type: 'result', result, wallMs: performance.now() - t0 };
    process.send!(reply);
  });
});
