/**
 * Checkpoint averaging: the final model is the elementwise mean of the parameters at the last
 * N evaluations (Vaswani et al. 2017, Sec. 6.1: "a single model obtained by averaging the
 * last 5 checkpoints"; fairseq's scripts/average_checkpoints.py).
 *
 * Each evaluation writes a snapshot of the model's state dict (parameters and buffers, no
 * optimizer state) to `<run dir>/snapshots/step-<step>.safetensors`. Snapshots live on disk so
 * that an interrupted run resumes with them: resuming from the checkpoint of step k drops the
 * snapshots after k (the resumed run writes them again, bit for bit), and older snapshots are
 * removed only once a checkpoint makes them unnecessary (N newer ones at or before it).
 *
 * Legend: N snapshots averaged.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fromFloat32, readSafetensors, toFloat32, writeSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { TrainTask } from './trainer.js';

/** The folder of a run directory that holds the snapshots. */
export const SNAPSHOT_DIR = 'snapshots';

/** A state dict as plain arrays: name -> shape and float32 data. */
export type StateArrays = Map<string, { shape: number[]; data: Float32Array }>;

/**
 * A running elementwise sum of state dicts in float64, so that N snapshots are averaged with
 * one of them in memory at a time.
 */
export class StateSum {
  private readonly sums = new Map<string, { shape: number[]; data: Float64Array }>();
  /** State dicts added so far. */
  count = 0;

  /**
   * Add a state dict.
   * @throws Error when a name or shape differs from the first state dict's (naming both).
   */
  add(state: StateArrays): void {
    const n = this.count + 1;
    if (this.count > 0 && state.size !== this.sums.size)
      throw new Error(
        `averageStates: state dict ${n} has ${state.size} tensors, the first ${this.sums.size}`,
      );
    for (const [name, t] of state) {
      let acc = this.sums.get(name);
      if (!acc) {
        if (this.count > 0)
          throw new Error(`averageStates: '${name}' is in state dict ${n} but not the first`);
        acc = { shape: [...t.shape], data: new Float64Array(t.data.length) };
        this.sums.set(name, acc);
      } else if (acc.shape.join() !== t.shape.join())
        throw new Error(
          `averageStates: '${name}' is [${acc.shape.join(', ')}] in the first state dict but [${t.shape.join(', ')}] in number ${n}`,
        );
      for (let j = 0; j < acc.data.length; j++) acc.data[j] += t.data[j];
    }
    this.count = n;
  }

  /**
   * The mean of the state dicts added, as float32.
   * @throws Error when none was added.
   */
  mean(): StateArrays {
    if (this.count === 0) throw new Error('averageStates: no state dicts to average');
    const out: StateArrays = new Map();
    for (const [name, acc] of this.sums) {
      const data = new Float32Array(acc.data.length);
      for (let j = 0; j < data.length; j++) data[j] = acc.data[j] / this.count;
      out.set(name, { shape: [...acc.shape], data });
    }
    return out;
  }
}

/**
 * The elementwise mean of state dicts (sums in float64, in the order given, then / N).
 * @param states (N) state dicts with the same names and shapes, N >= 1.
 * @returns a new state dict.
 * @throws Error when there are none, or a name or shape differs (naming both).
 */
export function averageStates(states: readonly StateArrays[]): StateArrays {
  const sum = new StateSum();
  for (const s of states) sum.add(s);
  return sum.mean();
}

/**
 * Check an `averageCheckpoints` value.
 * @throws Error naming the option and the value unless it is a positive integer.
 */
export function checkAverageCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${n}`);
}

/** The snapshots of one run: written at each evaluation, averaged at the end. */
export class SnapshotAverager {
  readonly dir: string;

  /**
   * @param runDir the run directory (its `snapshots/` folder is used).
   * @param count N, how many of the last snapshots are averaged.
   * @throws Error naming averageCheckpoints unless count is a positive integer.
   */
  constructor(
    runDir: string,
    readonly count: number,
  ) {
    checkAverageCount('averageCheckpoints', count);
    this.dir = join(runDir, SNAPSHOT_DIR);
  }

  private path(step: number): string {
    return join(this.dir, `step-${String(step).padStart(8, '0')}.safetensors`);
  }

  /** Steps of the snapshots on disk, ascending. */
  steps(): number[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .map((n) => /^step-(\d+)\.safetensors$/.exec(n))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /** Write the model's state dict as the snapshot of `step` (atomically). */
  save(step: number, model: Module): void {
    mkdirSync(this.dir, { recursive: true });
    const tensors = new Map(
      [...model.stateDict()].map(([n, p]) => [n, fromFloat32(p.f32, [...p.shape])] as const),
    );
    writeSafetensors(this.path(step), tensors);
  }

  /**
   * After a checkpoint at `step`: remove the snapshots at or before it except the last N of
   * them (a resume from this checkpoint needs no more); later ones are kept.
   */
  prune(step: number): void {
    const upTo = this.steps().filter((s) => s <= step);
    for (const s of upTo.slice(0, Math.max(0, upTo.length - this.count)))
      rmSync(this.path(s), { force: true });
  }

  /** Resuming from the checkpoint of `step`: drop later snapshots (they will be written again). */
  discardAfter(step: number): void {
    for (const s of this.steps()) if (s > step) rmSync(this.path(s), { force: true });
    for (const n of existsSync(this.dir) ? readdirSync(this.dir) : [])
      if (n.includes('.tmp-')) rmSync(join(this.dir, n), { force: true }); // a write cut short
  }

  /** A new run: no snapshots. */
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The mean of the last N snapshots on disk (fewer when fewer were written).
   * @returns the averaged state dict and the steps it covers, or null when there is none.
   */
  average(): { state: StateArrays; steps: number[] } | null {
    const steps = this.steps().slice(-this.count);
    if (steps.length === 0) return null;
    const sum = new StateSum();
    for (const s of steps) {
      const m: StateArrays = new Map();
      for (const [n, t] of readSafetensors(this.path(s)).tensors)
        m.set(n, { shape: t.shape, data: toFloat32(t) });
      sum.add(m); // one snapshot in memory at a time
    }
    return { state: sum.mean(), steps };
  }
}

/**
 * Load the mean of the averager's last snapshots into the task's model and evaluate it (the
 * Trainer's last act when averaging).
 * @param step the run's last step, for the record.
 * @param lastEval the last evaluation's record (re-evaluated when null: a finished run resumed).
 * @returns the metrics.jsonl record `{step, averaged_checkpoints, averaged_from_step,
 *   <metric>_last, <metric>_averaged}` for valid_loss and the task's extra metrics;
 *   `averaged_checkpoints: 0` (model unchanged) when there was no snapshot.
 */
export function installAverage(
  task: Pick<TrainTask, 'model' | 'evaluate' | 'evaluateExtra'>,
  averager: SnapshotAverager,
  step: number,
  lastEval: Record<string, number> | null,
): Record<string, number> {
  const evaluate = (): Record<string, number> => {
    const r = { valid_loss: task.evaluate(), ...(task.evaluateExtra?.() ?? {}) };
    task.model.train();
    return r;
  };
  const avg = averager.average();
  if (!avg) return { step, averaged_checkpoints: 0 };
  const last = lastEval ?? evaluate();
  task.model.loadStateDict(avg.state);
  const now = evaluate();
  const record: Record<string, number> = {
    step,
    averaged_checkpoints: avg.steps.length,
    averaged_from_step: avg.steps[0],
  };
  for (const k of Object.keys(now)) {
    record[`${k}_last`] = last[k];
    record[`${k}_averaged`] = now[k];
  }
  return record;
}

/** One line for a run's log: the averaged model's validation metrics against the last one's. */
export function describeAverage(r: Record<string, number>): string {
  if (!r.averaged_checkpoints)
    return 'checkpoint averaging: no validation snapshot, model not averaged';
  const metrics = Object.keys(r)
    .filter((k) => k.endsWith('_averaged'))
    .map((k) => k.slice(0, -'_averaged'.length))
    .map((m) => `${m} ${r[`${m}_last`]?.toFixed(4)} -> ${r[`${m}_averaged`].toFixed(4)}`);
  return `averaged the last ${r.averaged_checkpoints} validations (steps ${r.averaged_from_step}..${r.step}): ${metrics.join(', ')} (last -> averaged); the saved model is the average`;
}
