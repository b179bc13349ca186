/**
 * Trainer registry: trainer_type → TrainerRunner (interface in @clara/contracts, training/trainer.ts).
 * The engine registers the real LoRA/QLoRA runners; tests may register their own. A job whose trainer_type
 * has no runner FAILS with a clear error — the worker never simulates a run.
 */
import type { TrainerRunner, TrainerType } from '@clara/contracts';

const registry = new Map<string, TrainerRunner>();

export function registerTrainer(trainerType: TrainerType | string, runner: TrainerRunner): () => void {
  registry.set(trainerType, runner);
  return () => {
    if (registry.get(trainerType) === runner) registry.delete(trainerType);
  };
}

export function getTrainer(trainerType: string): TrainerRunner | undefined {
  return registry.get(trainerType);
}

export function registeredTrainerTypes(): string[] {
  return [...registry.keys()].sort();
}
