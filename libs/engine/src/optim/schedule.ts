// Learning-rate multipliers matching transformers' get_{constant,linear,cosine}_schedule_with_warmup.
// `step` is the number of optimizer steps already taken (the first update uses step 0).
export type Scheduler = 'constant' | 'linear' | 'cosine';

export function lrFactor(kind: Scheduler, step: number, warmup: number, total: number): number {
  if (step < warmup) return step / Math.max(1, warmup);
  if (kind === 'constant') return 1;
  if (kind === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
}
