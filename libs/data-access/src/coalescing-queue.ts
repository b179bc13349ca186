/**
 * Collects calls made in the same event-loop turn and hands them to `run` in batches of at most `maxBatch`,
 * with at most `maxInFlight` batches running at once; what arrives meanwhile waits for the next free slot.
 */
export class CoalescingQueue<T> {
  private pending: T[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
    private readonly run: (batch: T[]) => Promise<void>,
  ) {}

  push(item: T): void {
    this.pending.push(item);
    this.schedule();
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.maxInFlight || !this.pending.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.pending.length && this.inFlight < this.maxInFlight) {
        const batch = this.pending.splice(0, this.maxBatch);
        this.inFlight++;
        void this.run(batch).finally(() => {
          this.inFlight--;
          this.schedule();
        });
      }
    });
  }
}
