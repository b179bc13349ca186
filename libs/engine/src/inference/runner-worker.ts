/**
 * Worker thread that owns the onnxruntime sessions and every sequence's KV cache, so a forward step never blocks
 * the HTTP event loop. Started by WorkerRunner with `workerData: WorkerInit`; runs the BUILT file (dist/).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadCheckpoint } from '../io/checkpoint.js';
import { OnnxRunner } from './onnx-runner.js';
import { deserializeLora, type FromWorker, type ToWorker, type WorkerInit } from './runner-protocol.js';
import type { SequenceCache } from './types.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const send = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

try {
  const { config, weights } = await loadCheckpoint(init.modelDir);
  const runner = await OnnxRunner.create(config, weights, { numSlots: init.numSlots, maxRank: init.maxRank, intraOpThreads: init.intraOpThreads });
  const caches = new Map<number, SequenceCache>();
  // messages are handled strictly in order: a release or slot change sent after a forward applies after it
  let queue = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    queue = queue.then(async () => {
      switch (msg.type) {
        case 'forward': {
          try {
            const rows = msg.rows.map((r) => {
              let cache = caches.get(r.cacheId);
              if (!cache) caches.set(r.cacheId, (cache = runner.newCache()));
              return { tokens: r.tokens, cache, slot: r.slot };
            });
            const logits = await runner.forward(rows, { allPositions: msg.allPositions });
            send({ type: 'result', id: msg.id, logits }, logits.map((l) => l.buffer as ArrayBuffer));
          } catch (err) {
            send({ type: 'error', id: msg.id, message: (err as Error).message });
          }
          break;
        }
        case 'setSlot':
          try {
            runner.setSlot(msg.slot, deserializeLora(msg.weights));
          } catch (err) {
            send({ type: 'error', id: null, message: `setSlot ${msg.slot}: ${(err as Error).message}` });
          }
          break;
        case 'release':
          caches.delete(msg.cacheId);
          break;
        case 'dispose':
          await runner.dispose();
          send({ type: 'disposed', id: msg.id });
          break;
      }
    });
  });
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'error', id: null, message: `runner worker failed to start: ${(err as Error).message}` });
}
