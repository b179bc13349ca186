/**
 * A service run as its process's entry point (`node …/main.js`, `npm start`).
 *
 * The SIGINT/SIGTERM handlers go in BEFORE the service starts. Node installs its signal handler only when the
 * first listener is added; a signal that lands before that takes the default action and kills the process
 * without closing anything, which leaves embedded databases unflushed with their lock files behind. Installing
 * them after `start()` resolved left such a window right after the "ready" line, and a supervisor that stops
 * the process as soon as it reports ready hit it. A signal during start-up now stops the service once it has
 * started. A second signal of the same kind takes the default action again: a forced stop.
 */
export interface ClosableService {
  close(): Promise<void>;
}

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Starts the service, waits for SIGINT or SIGTERM, closes it and exits: 0 after a clean close, 1 when start or close failed. */
export function runAsProcessMain(name: string, start: () => Promise<ClosableService>): void {
  const stopRequested = new Promise<NodeJS.Signals>((requested) => {
    for (const signal of STOP_SIGNALS) process.once(signal, requested);
  });
  // Not awaited by the caller: a module awaiting a promise that never settles would exit 13 once its loop empties.
  void (async () => {
    let service: ClosableService;
    try {
      service = await start();
    } catch (err) {
      process.stderr.write(`${name} failed to start: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    }
    await stopRequested;
    try {
      await service.close();
    } catch (err) {
      process.stderr.write(`${name} did not stop cleanly: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    }
    process.exit(0);
  })();
}
