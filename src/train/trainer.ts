/**
 * The training loop, independent of any model (minGPT's trainer: "nothing in this file
 * really has anything to do with GPT specifically"). A `TrainTask` supplies the loss of a
 * batch and the validation loss; the Trainer does the rest: learning-rate schedule,
 * gradient accumulation, clipping by global norm, evaluation every N steps, early stopping,
 * atomic checkpoints, exact resume, metrics.jsonl and a progress bar.
 *
 * Exact resume: batches must be a pure function of (step, micro-batch index) — tasks get
 * them from `batch(step, micro)` — and every generator the model uses (dropout) is listed
 * in `generators`, so its state is checkpointed. Then a run resumed from a checkpoint at
 * step k produces the same losses as an uninterrupted run.
 *
 * Nothing silent: resuming without a checkpoint is refused; a non-finite loss or gradient
 * norm stops the run with NonFiniteError (the last checkpoint on disk is the last good one)
 * unless `skipNonfinite` allows skipping that many bad batches; `fitAsync` can be stopped
 * between steps (Ctrl-C) with a checkpoint written. `averageCheckpoints` N makes the final
 * model the mean of the last N evaluations' parameters (src/train/average.ts).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setImmediate as nextTick } from 'node:timers/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { backend } from '../backend/index.js';
import type { Module } from '../nn/module.js';
import type { Generator } from '../random.js';
import { StepArena, Tensor } from '../tensor.js';
import {
  fromFloat32,
  readSafetensors,
  toFloat32,
  writeSafetensors,
  type RawTensor,
} from '../io/safetensors.js';
import type { Optimizer } from './optim.js';
import type { Schedule } from './schedule.js';
import { parseCheckpointMetadata, removeStaleTempFiles, type TrainerState } from './run-files.js';
import { installAverage, SnapshotAverager } from './average.js';

/** What the trainer needs from a task (language modelling, translation, classification). */
export interface TrainTask {
  model: Module;
  /**
   * Loss of micro-batch `micro` of optimizer step `step` (1-based), with the tape recorded.
   * Must be a deterministic function of (step, micro) for exact resume.
   * @returns the mean loss (scalar) and the number of target tokens (or examples) it covers.
   */
  loss(step: number, micro: number): { loss: Tensor; tokens: number };
  /** Validation loss (lower is better), computed without the tape. */
  evaluate(): number;
  /** Optional extra validation metrics (e.g. BLEU, accuracy), logged with valid_loss. */
  evaluateExtra?(): Record<string, number>;
}

export interface TrainerOptions {
  /** Optimizer steps to run in total (a resumed run continues up to this). */
  maxSteps: number;
  /** Micro-batches per optimizer step (gradient accumulation). Default 1. */
  gradAccumSteps?: number;
  /** Clip the global gradient norm to this (Pascanu et al. 2013); null = no clipping. Default 1. */
  clipGradNorm?: number | null;
  /** Evaluate every N steps (and at the end). Default 250. */
  evalEvery?: number;
  /** Checkpoint every N steps (and at the end). Default = evalEvery. */
  checkpointEvery?: number;
  /** Stop after this many evaluations without a new best validation loss; null = never. */
  earlyStoppingPatience?: number | null;
  /** Output directory: metrics.jsonl, checkpoint.safetensors. */
  outDir: string;
  /** Continue from outDir/checkpoint.safetensors (an error when there is none). */
  resume?: boolean;
  /**
   * Batches whose loss or gradient norm is not finite that may be skipped (no update) before
   * the run stops with NonFiniteError. Default 0: the first one stops it.
   */
  skipNonfinite?: number;
  /** Generators whose state must be saved (dropout, sampling). */
  generators?: Generator[];
  /** What `tokens` counts, for the progress bar ('tok' or 'ex' for examples). Default 'tok'. */
  unit?: string;
  /** Show a progress bar on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
  /** Called after each step with its metrics record. */
  onStep?: (record: Record<string, number>) => void;
  /**
   * Average the parameters of the last N evaluations into the final model (src/train/average.ts);
   * the validation metrics of both are logged. Default: off.
   */
  averageCheckpoints?: number;
}

/**
 * Global L2 norm of tensors: squares summed in double by the backend's sumSquares, per
 * tensor, then over tensors in order (absent ones skipped). NaN or Infinity when any element is.
 */
export function globalNorm(tensors: (Tensor | null | undefined)[]): number {
  const be = backend();
  let sq = 0;
  for (const t of tensors) if (t) sq += be.sumSquares(t.f32, t.size);
  return Math.sqrt(sq);
}

/**
 * Global L2 norm of all gradients; scales them in place to `maxNorm` when above it, as
 * torch.nn.utils.clip_grad_norm_ (Pascanu et al. 2013). The squares are summed in double
 * by the backend's sumSquares (per parameter, then over parameters in order), the scaling
 * by its scalar kernel.
 * @returns the norm before clipping.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  const be = backend();
  const norm = globalNorm(params.map((p) => p.grad));
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6); // torch.nn.utils.clip_grad_norm_
    for (const p of params) {
      if (!p.grad) continue;
      const g = p.grad.f32;
      be.scalar('mul', g, g, scale, g.length);
    }
  }
  return norm;
}

/** A loss or gradient norm that is NaN or infinite: the run cannot continue. */
export class NonFiniteError extends Error {
  constructor(
    /** The step whose loss or gradient was not finite (1-based). */
    readonly step: number,
    /** The last finite training loss (NaN when there was none). */
    readonly lastFiniteLoss: number,
    /** What was not finite, e.g. 'the loss (NaN)'. */
    readonly what: string,
  ) {
    super(
      `${NonFiniteError.describe(step, lastFiniteLoss, what)}; try a lower learning rate, or allow skipping bad batches`,
    );
    this.name = 'NonFiniteError';
  }

  /** `step N: WHAT is not finite (last finite loss X)`, without the hint. */
  static describe(step: number, lastFiniteLoss: number, what: string): string {
    const last = Number.isNaN(lastFiniteLoss) ? 'none' : lastFiniteLoss.toFixed(4);
    return `step ${step}: ${what} is not finite (last finite loss ${last})`;
  }
}

/** How a run ended. */
export interface FitResult {
  bestValid: number;
  step: number;
  stoppedEarly: boolean;
  /** Stopped by requestStop() (fitAsync only), after writing a checkpoint. */
  interrupted: boolean;
  /** With averageCheckpoints: the metrics.jsonl record comparing the last and averaged models. */
  averaged?: Record<string, number>;
}

export class Trainer {
  readonly o: Required<Omit<TrainerOptions, 'onStep' | 'averageCheckpoints'>> &
    Pick<TrainerOptions, 'onStep'>;
  /** The snapshots of the last evaluations, when averaging (averageCheckpoints). */
  readonly averager: SnapshotAverager | null;
  state: TrainerState = {
    step: 0,
    bestValid: Infinity,
    evalsSinceBest: 0,
    generators: [],
    seconds: 0,
    nonfiniteSkipped: 0,
  };
  /** Set by requestStop(): fitAsync checkpoints and returns after the current step. */
  private stopRequested = false;
  /** Storage of each step's activations and gradients, reused by the next step. */
  private readonly arena = new StepArena();

  constructor(
    readonly task: TrainTask,
    readonly optimizer: Optimizer,
    readonly schedule: Schedule,
    opts: TrainerOptions,
  ) {
    const evalEvery = opts.evalEvery ?? 250;
    this.o = {
      gradAccumSteps: 1,
      clipGradNorm: 1,
      checkpointEvery: evalEvery,
      earlyStoppingPatience: null,
      resume: false,
      skipNonfinite: 0,
      unit: 'tok',
      generators: [],
      progress: process.stderr.isTTY === true,
      ...opts,
      evalEvery,
    };
    for (const [k, v] of Object.entries({
      maxSteps: opts.maxSteps,
      gradAccumSteps: this.o.gradAccumSteps,
      evalEvery,
      checkpointEvery: this.o.checkpointEvery,
    })) {
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`Trainer: ${k} must be a positive integer, got ${v}`);
    }
    this.averager =
      opts.averageCheckpoints === undefined
        ? null
        : new SnapshotAverager(opts.outDir, opts.averageCheckpoints);
    if (!Number.isInteger(this.o.skipNonfinite) || this.o.skipNonfinite < 0)
      throw new Error(
        `Trainer: skipNonfinite must be an integer >= 0, got ${this.o.skipNonfinite}`,
      );
  }

  /** Ask fitAsync to stop after the current step, writing a checkpoint (e.g. on SIGINT). */
  requestStop(): void {
    this.stopRequested = true;
  }

  get checkpointPath(): string {
    return join(this.o.outDir, 'checkpoint.safetensors');
  }
  get metricsPath(): string {
    return join(this.o.outDir, 'metrics.jsonl');
  }

  /** Write model, optimizer and trainer state to one safetensors file, atomically. */
  saveCheckpoint(): void {
    const tensors = new Map<string, RawTensor>();
    for (const [name, p] of this.task.model.stateDict())
      tensors.set(`model/${name}`, fromFloat32(p.f32, [...p.shape]));
    for (const [name, buf] of this.optimizer.state())
      tensors.set(`optim/${name}`, fromFloat32(buf, [buf.length]));
    const state: TrainerState = {
      ...this.state,
      generators: this.o.generators.map((g) => g.getState()),
    };
    writeSafetensors(this.checkpointPath, tensors, {
      trainer: JSON.stringify(state),
      optimizer: JSON.stringify({ stepCount: this.optimizer.stepCount, lr: this.optimizer.lr }),
    });
    this.averager?.prune(this.state.step);
  }

  /**
   * Restore from the checkpoint. Everything is parsed and validated before the model,
   * the optimizer or the generators change.
   * @throws Error for a malformed checkpoint or one that does not match the model.
   */
  loadCheckpoint(): void {
    const { tensors, metadata } = readSafetensors(this.checkpointPath);
    const { state, optimizer: optMeta } = parseCheckpointMetadata(this.checkpointPath, metadata);
    if (state.generators.length !== this.o.generators.length) {
      throw new Error(
        `${this.checkpointPath}: saved ${state.generators.length} generator states, the run has ${this.o.generators.length}`,
      );
    }
    const model = new Map<string, { shape: number[]; data: Float32Array }>();
    const optim = new Map<string, Float32Array>();
    for (const [name, t] of tensors) {
      if (name.startsWith('model/'))
        model.set(name.slice(6), { shape: t.shape, data: toFloat32(t) });
      else if (name.startsWith('optim/')) optim.set(name.slice(6), toFloat32(t));
      else throw new Error(`${this.checkpointPath}: unexpected tensor ${name}`);
    }
    this.task.model.loadStateDict(model); // validates all names and shapes before copying
    this.optimizer.loadState(optim, optMeta.stepCount);
    this.optimizer.lr = optMeta.lr;
    state.generators.forEach((s, i) => this.o.generators[i].setState(s));
    this.state = state;
  }

  private log(record: Record<string, number>): void {
    appendFileSync(this.metricsPath, JSON.stringify(record) + '\n');
  }

  /**
   * Keep only metrics lines up to `step` (a resumed run rewrites what came after its
   * checkpoint), without the averaged-model line of a finished run (it is written again).
   */
  private truncateMetrics(step: number): void {
    if (!existsSync(this.metricsPath)) return;
    const keep = readFileSync(this.metricsPath, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => {
        const r = JSON.parse(l) as { step: number; averaged_checkpoints?: number };
        return r.step <= step && r.averaged_checkpoints === undefined;
      });
    writeFileSync(this.metricsPath, keep.map((l) => l + '\n').join(''));
  }

  /** Prepare a run: output directory, stale temporary files, checkpoint or fresh metrics. */
  private begin(): void {
    mkdirSync(this.o.outDir, { recursive: true });
    removeStaleTempFiles(this.checkpointPath);
    if (this.o.resume) {
      if (!existsSync(this.checkpointPath))
        throw new Error(
          `resume: no checkpoint at ${this.checkpointPath} (nothing to resume; start a new run without resume)`,
        );
      this.loadCheckpoint();
      this.truncateMetrics(this.state.step);
      this.averager?.discardAfter(this.state.step);
    } else {
      writeFileSync(this.metricsPath, '');
      this.averager?.clear();
    }
  }

  /**
   * The training loop as a generator: yields after each step, returns how the run ended.
   * @throws NonFiniteError when a loss or gradient norm is not finite and no skip is left.
   */
  private *loop(): Iterator<void, FitResult> {
    this.begin();
    const params = this.task.model.parameters();
    const bar = this.o.progress
      ? new SingleBar({
          format: `{bar} {value}/{total} | loss {loss} | lr {lr} | {tps} ${this.o.unit}/s | eta {eta_formatted}`,
          hideCursor: true,
        })
      : null;
    bar?.start(this.o.maxSteps, this.state.step, { loss: '-', lr: '-', tps: '-' });
    const t0 = Date.now() - this.state.seconds * 1000;
    let stoppedEarly = false;
    let interrupted = false;
    let tokensSinceStart = 0;
    let lastFiniteLoss = NaN;
    let lastEval: Record<string, number> | null = null;
    const runStart = Date.now();
    this.task.model.train();
    try {
      while (this.state.step < this.o.maxSteps) {
        const step = this.state.step + 1;
        this.optimizer.lr = this.schedule(step);
        // The step's activations and gradients live in the arena: the next step reuses them.
        const { lossSum, tokens, gradNorm, bad } = this.arena.run(() => {
          this.optimizer.zeroGrad();
          let lossSum = 0;
          let tokens = 0;
          for (let micro = 0; micro < this.o.gradAccumSteps; micro++) {
            const r = this.task.loss(step, micro);
            lossSum += r.loss.item();
            tokens += r.tokens;
            // Each micro-batch contributes 1/accum of the step's gradient.
            r.loss.backward(new Tensor(Float32Array.of(1 / this.o.gradAccumSteps), r.loss.shape));
          }
          const gradNorm = clipGradNorm(params, this.o.clipGradNorm ?? Infinity);
          const bad = !Number.isFinite(lossSum)
            ? `the loss (${lossSum})`
            : !Number.isFinite(gradNorm)
              ? `the gradient norm (${gradNorm})`
              : null;
          if (!bad) this.optimizer.step();
          return { lossSum, tokens, gradNorm, bad };
        });
        this.state.step = step;
        if (bad) {
          if (this.state.nonfiniteSkipped >= this.o.skipNonfinite)
            throw new NonFiniteError(step, lastFiniteLoss, bad);
          this.state.nonfiniteSkipped++;
          this.log({ step, nonfinite_skipped: this.state.nonfiniteSkipped });
          yield;
          continue;
        }
        lastFiniteLoss = lossSum / this.o.gradAccumSteps;
        tokensSinceStart += tokens;
        const seconds = (Date.now() - t0) / 1000;
        this.state.seconds = seconds;
        const record: Record<string, number> = {
          step,
          loss: lastFiniteLoss,
          lr: this.optimizer.lr,
          tokens,
          tokens_per_s: tokensSinceStart / Math.max((Date.now() - runStart) / 1000, 1e-3),
          seconds,
        };
        if (this.o.clipGradNorm !== null) record.grad_norm = gradNorm;
        const last = step === this.o.maxSteps;
        if (step % this.o.evalEvery === 0 || last) {
          record.valid_loss = this.task.evaluate();
          if (!Number.isFinite(record.valid_loss))
            throw new NonFiniteError(
              step,
              lastFiniteLoss,
              `the validation loss (${record.valid_loss})`,
            );
          Object.assign(record, this.task.evaluateExtra?.() ?? {});
          this.averager?.save(step, this.task.model);
          lastEval = record;
          this.task.model.train();
          if (record.valid_loss < this.state.bestValid) {
            this.state.bestValid = record.valid_loss;
            this.state.evalsSinceBest = 0;
          } else this.state.evalsSinceBest++;
        }
        this.log(record);
        this.o.onStep?.(record);
        bar?.update(step, {
          loss: record.loss.toFixed(3),
          lr: record.lr.toExponential(2),
          tps: Math.round(record.tokens_per_s),
        });
        const patience = this.o.earlyStoppingPatience;
        stoppedEarly = patience !== null && this.state.evalsSinceBest >= patience;
        interrupted = this.stopRequested && !last && !stoppedEarly;
        if (step % this.o.checkpointEvery === 0 || last || stoppedEarly || interrupted) {
          // a checkpoint on disk is always a good one: never overwrite it with broken weights
          if (
            !Number.isFinite(
              clipGradNorm(
                params.map((p) => ({ grad: p }) as Tensor),
                Infinity,
              ),
            )
          )
            throw new NonFiniteError(step, lastFiniteLoss, 'a weight');
          this.saveCheckpoint();
        }
        if (stoppedEarly || interrupted) break;
        yield;
        if (this.stopRequested && this.state.step < this.o.maxSteps) {
          this.saveCheckpoint(); // stopped between steps (e.g. after a skipped batch)
          interrupted = true;
          break;
        }
      }
    } finally {
      bar?.stop();
    }
    const averaged =
      this.averager && !interrupted
        ? installAverage(this.task, this.averager, this.state.step, lastEval)
        : undefined;
    if (averaged) this.log(averaged);
    return {
      bestValid: this.state.bestValid,
      step: this.state.step,
      stoppedEarly,
      interrupted,
      ...(averaged ? { averaged } : {}),
    };
  }

  /**
   * Run until maxSteps or early stopping, synchronously.
   * @throws Error when resuming without a checkpoint; NonFiniteError (see the module doc).
   * @returns the best validation loss and the step reached.
   */
  fit(): FitResult {
    const it = this.loop();
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * As fit, but yields to the event loop between steps, so a signal handler can call
   * requestStop(): the run then writes a checkpoint and returns with `interrupted` set.
   */
  async fitAsync(): Promise<FitResult> {
    const it = this.loop();
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
      await nextTick();
    }
  }
}
