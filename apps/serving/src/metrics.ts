/** Prometheus metrics of one serving instance (own registry, so several apps can share a process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'clara_serving_requests_total',
    help: 'Requests by endpoint, model and HTTP status',
    labelNames: ['endpoint', 'model', 'status'] as const,
    registers: [this.registry],
  });
  readonly promptTokens = new Counter({ name: 'clara_serving_prompt_tokens_total', help: 'Prompt tokens in', labelNames: ['model'] as const, registers: [this.registry] });
  readonly generationTokens = new Counter({ name: 'clara_serving_generation_tokens_total', help: 'Generated tokens out', labelNames: ['model'] as const, registers: [this.registry] });
  readonly ttft = new Histogram({
    name: 'clara_serving_time_to_first_token_seconds',
    help: 'Time from request to its first generated token, per model/adapter',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly interToken = new Histogram({
    name: 'clara_serving_inter_token_latency_seconds',
    help: 'Time between consecutive generated tokens of one request, per model/adapter',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly stepBatch = new Histogram({
    name: 'clara_serving_batch_size',
    help: 'Rows per forward step',
    labelNames: ['kind'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly stepSeconds = new Histogram({
    name: 'clara_serving_step_seconds',
    help: 'Duration of one forward step',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly evictions = new Counter({ name: 'clara_serving_adapter_evictions_total', help: 'Adapters evicted from their slot (LRU)', labelNames: ['adapter'] as const, registers: [this.registry] });
  readonly adapterLoadSeconds = new Histogram({
    name: 'clara_serving_adapter_load_seconds',
    help: 'Time to load an adapter into a slot',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly aborted = new Counter({ name: 'clara_serving_requests_aborted_total', help: 'Requests whose client went away', labelNames: ['model'] as const, registers: [this.registry] });

  constructor(state: { queueDepth(): number; running(): number; loadedAdapters(): number; knownAdapters(): number }) {
    new Gauge({ name: 'clara_serving_queue_depth', help: 'Requests waiting to join the batch', registers: [this.registry], collect() { this.set(state.queueDepth()); } });
    new Gauge({ name: 'clara_serving_running_requests', help: 'Requests in the running batch', registers: [this.registry], collect() { this.set(state.running()); } });
    new Gauge({ name: 'clara_serving_loaded_adapters', help: 'Adapters resident in slots', registers: [this.registry], collect() { this.set(state.loadedAdapters()); } });
    new Gauge({ name: 'clara_serving_known_adapters', help: 'Adapters servable by name', registers: [this.registry], collect() { this.set(state.knownAdapters()); } });
    collectDefaultMetrics({ register: this.registry, prefix: 'clara_serving_' });
  }
}
