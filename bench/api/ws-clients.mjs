// Child process of bench/api/run.mjs: opens N WebSocket subscribers (all jobs), reports when ready, then records
// the delay from each event's `timestamp` (set when it was published) to its arrival, per client.
import { WebSocket } from 'ws';

const [url, n] = [process.argv[2], Number(process.argv[3] ?? 1000)];
const latencies = [];
let ready = 0;
const sockets = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url);
  sockets.push(ws);
  ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', all: true })));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'subscribed' && ++ready === n) process.send({ ready: true });
    else if (m.type === 'job_update' && m.event === 'progress') latencies.push(Date.now() - Date.parse(m.timestamp));
  });
  ws.on('error', (e) => process.send({ error: String(e) }));
  if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50));
}
process.on('message', (m) => {
  if (m === 'report') {
    process.send({ latencies });
    for (const s of sockets) s.close();
    setTimeout(() => process.exit(0), 200);
  }
});
