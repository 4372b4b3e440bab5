/**
 * The files of a training run directory that the Trainer owns: removing the temporary files
 * an interrupted checkpoint write leaves behind, and reading a checkpoint's trainer state
 * with every field checked (a bad file is named, never a bare SyntaxError or TypeError).
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The trainer's own state, saved in the checkpoint's metadata as JSON. */
export interface TrainerState {
  /** Optimizer steps done (1-based steps 1..step are done). */
  step: number;
  bestValid: number;
  evalsSinceBest: number;
  /** Generator states (dropout, sampling), in the order of TrainerOptions.generators. */
  generators: number[][];
  /** Wall-clock seconds of training so far, over all resumed runs. */
  seconds: number;
  /** Batches skipped because their loss or gradient norm was not finite. */
  nonfiniteSkipped: number;
}

/** True when a process with this id exists (signal 0 probes without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove `<file>.tmp-<pid>-*` files next to `file` left by writers that no longer run (the
 * atomic writes of src/io and src/tokenizers name their temporary files so).
 * @returns the names removed.
 */
export function removeStaleTempFiles(file: string): string[] {
  const dir = dirname(file);
  const prefix = `${basename(file)}.tmp-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue; // still writing
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // already gone
    }
  }
  return removed;
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/**
 * Parse and check the trainer and optimizer metadata of a checkpoint.
 * @param path the checkpoint file, named in every error.
 * @throws Error `${path}: ...` for missing, non-JSON or mistyped fields.
 */
export function parseCheckpointMetadata(
  path: string,
  metadata: Record<string, string>,
): { state: TrainerState; optimizer: { stepCount: number; lr: number } } {
  if (!metadata.trainer || !metadata.optimizer)
    throw new Error(`${path}: not a transformer-ts training checkpoint (no trainer state)`);
  const parse = (key: string): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(metadata[key]);
    } catch (e) {
      throw new Error(`${path}: the ${key} metadata is not valid JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new Error(`${path}: the ${key} metadata is not a JSON object`);
    return v as Record<string, unknown>;
  };
  const s = parse('trainer');
  const o = parse('optimizer');
  const bad = (what: string): Error => new Error(`${path}: bad checkpoint metadata: ${what}`);
  if (!isCount(s.step)) throw bad(`trainer.step = ${JSON.stringify(s.step)}`);
  if (typeof s.bestValid !== 'number' && s.bestValid !== null)
    throw bad(`trainer.bestValid = ${JSON.stringify(s.bestValid)}`);
  if (!isCount(s.evalsSinceBest))
    throw bad(`trainer.evalsSinceBest = ${JSON.stringify(s.evalsSinceBest)}`);
  if (
    !Array.isArray(s.generators) ||
    !s.generators.every(
      (g) => Array.isArray(g) && g.every((x) => typeof x === 'number' || x === null),
    )
  )
    throw bad('trainer.generators is not a list of number lists');
  if (typeof s.seconds !== 'number') throw bad(`trainer.seconds = ${JSON.stringify(s.seconds)}`);
  if (s.nonfiniteSkipped !== undefined && !isCount(s.nonfiniteSkipped))
    throw bad(`trainer.nonfiniteSkipped = ${JSON.stringify(s.nonfiniteSkipped)}`);
  if (!isCount(o.stepCount)) throw bad(`optimizer.stepCount = ${JSON.stringify(o.stepCount)}`);
  if (typeof o.lr !== 'number') throw bad(`optimizer.lr = ${JSON.stringify(o.lr)}`);
  return {
    state: {
      step: s.step,
      // JSON has no Infinity: a run never validated stores null
      bestValid: (s.bestValid as number | null) ?? Infinity,
      evalsSinceBest: s.evalsSinceBest,
      generators: (s.generators as (number | null)[][]).map((g) => g.map((x) => x ?? NaN)), // JSON writes NaN as null
      seconds: s.seconds,
      nonfiniteSkipped: (s.nonfiniteSkipped as number | undefined) ?? 0,
    },
    optimizer: { stepCount: o.stepCount, lr: o.lr },
  };
}
