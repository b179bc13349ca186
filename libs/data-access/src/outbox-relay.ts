/**
 * OutboxRelay: publishes training_job_events rows to the message bus under
 * Subjects.trainingJobEvent(jobId, type), strictly in id order, and marks them published.
 *
 *   const relay = new OutboxRelay(dataSource, bus, { logger });
 *   relay.start();            // polls every intervalMs; kick() after local writes for low latency
 *   await relay.stop();
 *
 * Any number of processes may run a relay: the cursor row is locked FOR UPDATE SKIP LOCKED, so one publishes
 * at a time and order is kept. Publish failures (NATS down) roll back and are retried: nothing is lost, and
 * JetStream de-duplicates a re-publish by msgId `training-event-<jobId>-<seq>` (unique across databases sharing
 * one NATS, unlike the row id). An id gap (a transaction that took an id
 * but has not committed yet) is waited for up to gapWaitMs, then skipped (it was rolled back).
 */
import { Subjects } from '@clara/contracts';
import type { Logger, MessageBus } from '@clara/platform';
import type { DataSource } from 'typeorm';
import { toEvent } from './training-job.repository.js';

export interface OutboxRelayOptions {
  logger?: Logger;
  intervalMs?: number;
  batchSize?: number;
  gapWaitMs?: number;
}

export class OutboxRelay {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  private gap?: { id: number; since: number };
  private failing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: MessageBus,
    private readonly options: OutboxRelayOptions = {},
  ) {}

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 500);
    this.timer.unref();
    this.kick();
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Run soon (coalesces bursts of calls). */
  kick() {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      await Promise.resolve(); // the finally below must run after this.running is assigned
      try {
        do {
          this.again = false;
          while (!this.stopped && (await this.relayOnce()) === (this.options.batchSize ?? 200)) {
            /* full batch: continue */
          }
        } while (this.again && !this.stopped);
        if (this.failing) this.options.logger?.info('outbox relay publishing again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) this.options.logger?.warn('outbox relay cannot publish yet; will retry', { err: err as Error });
        this.failing = true;
      } finally {
        this.running = undefined;
      }
    })();
  }

  /** One batch; returns how many events were published. */
  async relayOnce(): Promise<number> {
    const batch = this.options.batchSize ?? 200;
    const gapWait = this.options.gapWaitMs ?? 2000;
    return this.dataSource.transaction(async (m) => {
      // The cursor (locked) and the batch after it in one round trip: no row at all = another relay holds the lock;
      // one row with a null id = nothing to publish.
      const found = await m.query(
        `WITH c AS (SELECT last_event_id FROM training_outbox_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED)
         SELECT c.last_event_id AS cursor, e.id, e.job_id, e.seq, e.type, e.payload, e.created_at
         FROM c LEFT JOIN LATERAL (SELECT * FROM training_job_events WHERE id > c.last_event_id ORDER BY id LIMIT $1) e ON true
         ORDER BY e.id`,
        [batch],
      );
      if (!found.length) return 0; // another relay is publishing
      let last = Number(found[0].cursor);
      const rows = found[0].id === null ? [] : found;
      const published: number[] = [];
      const sends: Promise<void>[] = [];
      for (const row of rows) {
        const id = Number(row.id);
        if (id !== last + 1) {
          const now = Date.now();
          if (!this.gap || this.gap.id !== last + 1) this.gap = { id: last + 1, since: now };
          if (now - this.gap.since < gapWait) {
            setTimeout(() => this.kick(), 50).unref();
            break;
          }
        }
        const event = toEvent(row);
        // Pipelined: sent in order on one connection, acks awaited together. If any fails the batch rolls back and
        // is sent again; the msgId makes JetStream store each event once.
        sends.push(this.bus.publish(Subjects.trainingJobEvent(event.job_id, event.type), event, { msgId: `training-event-${event.job_id}-${event.seq}` }));
        published.push(id);
        last = id;
      }
      await Promise.all(sends);
      if (published.length) {
        await m.query(
          `WITH cursor AS (UPDATE training_outbox_cursor SET last_event_id = $1, updated_at = now() WHERE id = 1)
           UPDATE training_job_events SET published_at = now() WHERE id = ANY($2::bigint[])`,
          [last, published],
        );
      }
      return published.length;
    });
  }

  /** Events written but not yet published (readiness / monitoring). */
  async backlog(): Promise<number> {
    const [row] = await this.dataSource.query(`SELECT count(*)::int AS n FROM training_job_events WHERE published_at IS NULL`);
    return row.n;
  }
}
