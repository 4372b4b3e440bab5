/**
 * The training recipe of each task as data: optimizer (AdamW with its betas, epsilon and
 * weight decay), learning-rate schedule (linear warmup, cosine decay), label smoothing and
 * gradient clipping. `transformer train` builds its optimizer and schedule from it, and
 * `transformer export --format torch` writes it to train_config.json, so a PyTorch run
 * continues with the same recipe.
 */
import type { Module } from '../nn/module.js';
import { AdamW, weightDecayGroups, type ParamGroup } from './optim.js';
import { cosineSchedule, type Schedule } from './schedule.js';

export type RecipeTask = 'lm' | 'translate' | 'classify';

/**
 * The default batch of each task: sequences per batch for 'lm' (`--batch-size`), padded
 * tokens per batch for 'translate' and 'classify' (`--batch-tokens`).
 */
export const DEFAULT_BATCH: Record<RecipeTask, number> = {
  lm: 12,
  translate: 1000,
  classify: 8192,
};

/** One run's recipe: every number the optimizer, schedule and loss need. */
export interface TrainRecipe {
  /** AdamW (Loshchilov & Hutter 2019) on weightDecayGroups: decay on 2-D non-embedding weights. */
  optimizer: {
    name: 'AdamW';
    lr: number;
    betas: [number, number];
    eps: number;
    weightDecay: number;
  };
  /** Linear warmup to maxLr over `warmup` steps, cosine decay to minLr at totalSteps (nanoGPT). */
  schedule: { name: 'cosine'; maxLr: number; warmup: number; totalSteps: number; minLr: number };
  /** Label smoothing epsilon of the training loss (Sec. 5.4); 0 = none. */
  labelSmoothing: number;
  /** Clip the global gradient norm to this (Pascanu et al. 2013). */
  clipGradNorm: number;
}

/** Per-task defaults: learning rate, warmup cap, final lr divisor, betas, eps, decay, smoothing. */
const DEFAULTS: Record<
  RecipeTask,
  {
    lr: number;
    warmupCap: number;
    minLrDivisor: number;
    betas: [number, number];
    eps: number;
    weightDecay: number;
    labelSmoothing: number;
  }
> = {
  // nanoGPT's shakespeare_char: betas (0.9, 0.99), weight decay 0.1.
  lm: {
    lr: 1e-3,
    warmupCap: 100,
    minLrDivisor: 10,
    betas: [0.9, 0.99],
    eps: 1e-8,
    weightDecay: 0.1,
    labelSmoothing: 0,
  },
  // The paper's Adam (Sec. 5.3: beta2 0.98, eps 1e-9) and label smoothing 0.1 (Sec. 5.4).
  translate: {
    lr: 1e-3,
    warmupCap: 400,
    minLrDivisor: 20,
    betas: [0.9, 0.98],
    eps: 1e-9,
    weightDecay: 0.01,
    labelSmoothing: 0.1,
  },
  classify: {
    lr: 5e-4,
    warmupCap: 100,
    minLrDivisor: 10,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0.01,
    labelSmoothing: 0,
  },
};

/**
 * The recipe `transformer train --task TASK` uses for a run of `steps` steps: warmup
 * min(cap, steps / 10), cosine decay to lr / divisor at steps + 1, clipping at norm 1.
 * @param lr the peak learning rate (default the task's).
 * @throws Error naming `steps` or `lr` when not positive.
 */
export function trainRecipe(task: RecipeTask, steps: number, lr?: number): TrainRecipe {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`trainRecipe: steps must be a positive integer, got ${steps}`);
  const d = DEFAULTS[task];
  const peak = lr ?? d.lr;
  if (!(peak > 0)) throw new Error(`trainRecipe: lr must be > 0, got ${peak}`);
  return {
    optimizer: { name: 'AdamW', lr: peak, betas: d.betas, eps: d.eps, weightDecay: d.weightDecay },
    schedule: {
      name: 'cosine',
      maxLr: peak,
      warmup: Math.min(d.warmupCap, Math.floor(steps / 10)),
      totalSteps: steps + 1,
      minLr: peak / d.minLrDivisor,
    },
    labelSmoothing: d.labelSmoothing,
    clipGradNorm: 1,
  };
}

/** The recipe's AdamW over the model's weight-decay groups. */
export function recipeOptimizer(
  model: Module,
  r: TrainRecipe,
  groups: ParamGroup[] = weightDecayGroups(model, r.optimizer.weightDecay),
): AdamW {
  const o = r.optimizer;
  return new AdamW(groups, {
    lr: o.lr,
    betas: o.betas,
    eps: o.eps,
  });
}

/** The recipe's learning-rate schedule (step 1-based -> lr). */
export function recipeSchedule(r: TrainRecipe): Schedule {
  const s = r.schedule;
  return cosineSchedule(s.maxLr, s.warmup, s.totalSteps, s.minLr);
}
