/**
 * Trainer, nothing lost and nothing silent (issue #11 items 2, 3, 5, 15): resume without a
 * checkpoint is refused, a non-finite loss or gradient stops the run (or is skipped when
 * allowed) without touching the last good checkpoint, stale temporary checkpoint files are
 * removed, a checkpoint with bad metadata is named, and fitAsync stops on request with a
 * checkpoint to resume from.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { AdamW } from '../../src/train/optim.js';
import { constantSchedule } from '../../src/train/schedule.js';
import { NonFiniteError, Trainer, type TrainerOptions } from '../../src/train/trainer.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

const V = 7;
const T = 4;
/** A tiny LM task whose loss is NaN at the steps in `nanAt`. */
function makeTask(nanAt: number[] = []) {
  const gen = new Generator(3);
  const model = new DecoderLM(
    { vocabSize: V, blockSize: T, dModel: 8, nhead: 2, numLayers: 1, dropout: 0 },
    gen,
  );
  const batch = (step: number) => {
    const g = new Generator(step);
    const x = Int32Array.from({ length: 2 * T }, () => g.randint(V));
    return {
      x: tensor(x, [2, T]),
      y: tensor(
        x.map((t) => (t + 1) % V),
        [2 * T],
      ),
    };
  };
  return {
    gen,
    task: {
      model,
      loss(step: number) {
        const { x, y } = batch(step);
        const l = F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y);
        return { loss: nanAt.includes(step) ? F.mul(l, NaN) : l, tokens: y.size };
      },
      evaluate: () => 1,
    },
  };
}

function trainer(dir: string, nanAt: number[], extra: Partial<TrainerOptions> = {}) {
  const { task, gen } = makeTask(nanAt);
  return new Trainer(
    task,
    new AdamW(task.model.parameters(), { lr: 1e-2 }),
    constantSchedule(1e-2),
    {
      maxSteps: 6,
      outDir: dir,
      evalEvery: 2,
      generators: [gen],
      ...extra,
    },
  );
}
const tmp = () => mkdtempSync(join(tmpdir(), 'tts-trs-'));
const ckptStep = (dir: string) =>
  JSON.parse(readSafetensors(join(dir, 'checkpoint.safetensors')).metadata.trainer).step;

test('resume with no checkpoint is refused, naming the path, and metrics.jsonl is kept', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1,"loss":2}\n');
  assert.throws(
    () => trainer(dir, [], { resume: true }).fit(),
    (e: Error) =>
      e.message.includes(join(dir, 'checkpoint.safetensors')) && /no checkpoint/.test(e.message),
  );
  assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1,"loss":2}\n');
});

test('a NaN loss stops the run with the step and last finite loss; the last checkpoint stays', () => {
  const dir = tmp();
  const losses: number[] = [];
  const tr = trainer(dir, [5], { onStep: (r) => losses.push(r.loss) });
  assert.throws(
    () => tr.fit(),
    (e: unknown) =>
      e instanceof NonFiniteError &&
      e.step === 5 &&
      e.lastFiniteLoss === losses[3] &&
      /step 5: the loss \(NaN\) is not finite/.test(e.message) &&
      /lower learning rate/.test(e.message),
  );
  assert.equal(ckptStep(dir), 4, 'the checkpoint of step 4 is the last good one');
  // resuming from it with the same bad batch fails again at step 5, nothing written in between
  assert.throws(() => trainer(dir, [5], { resume: true }).fit(), NonFiniteError);
  assert.equal(ckptStep(dir), 4);
});

test('skipNonfinite: bad batches are skipped without an update, up to the limit', () => {
  const dir = tmp();
  const { task, gen } = makeTask([3]);
  const opt = new AdamW(task.model.parameters(), { lr: 1e-2 });
  const r = new Trainer(task, opt, constantSchedule(1e-2), {
    maxSteps: 5,
    outDir: dir,
    evalEvery: 5,
    generators: [gen],
    skipNonfinite: 1,
  }).fit();
  assert.equal(r.step, 5);
  assert.equal(opt.stepCount, 4, 'four updates in five steps');
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines[2], { step: 3, nonfinite_skipped: 1 });
  // two bad batches with one allowed: stops at the second
  assert.throws(
    () => trainer(tmp(), [2, 4], { skipNonfinite: 1 }).fit(),
    (e: unknown) => e instanceof NonFiniteError && e.step === 4,
  );
});

test('an infinite gradient norm is caught even without clipping', () => {
  const dir = tmp();
  const { task, gen } = makeTask();
  const loss = task.loss.bind(task);
  task.loss = (step: number) => {
    const r = loss(step);
    // sqrt at 0: a finite loss with an infinite derivative (NaN gradients after the chain rule)
    return step === 2 ? { loss: F.add(r.loss, F.sqrt(F.mul(r.loss, 0))), tokens: r.tokens } : r;
  };
  const tr = new Trainer(task, new AdamW(task.model.parameters()), constantSchedule(1e-3), {
    maxSteps: 4,
    outDir: dir,
    generators: [gen],
    clipGradNorm: null,
  });
  assert.throws(() => tr.fit(), /step 2: the gradient norm \(NaN\) is not finite/);
});

test('stale checkpoint.safetensors.tmp-* files of dead writers are removed at start', () => {
  const dir = tmp();
  const stale = join(dir, 'checkpoint.safetensors.tmp-999999999-abcdef');
  const live = join(dir, `checkpoint.safetensors.tmp-${process.ppid}-abcdef`); // a running process
  writeFileSync(stale, 'partial');
  writeFileSync(live, 'partial');
  trainer(dir, [], { maxSteps: 1 }).fit();
  assert.ok(!existsSync(stale));
  assert.ok(existsSync(live), 'a writer that still runs keeps its file');
  assert.ok(readdirSync(dir).includes('checkpoint.safetensors'));
});

test('a checkpoint with bad trainer metadata is refused naming the file', () => {
  const dir = tmp();
  trainer(dir, [], { maxSteps: 2 }).fit();
  const path = join(dir, 'checkpoint.safetensors');
  const { tensors, metadata } = readSafetensors(path);
  for (const [trainerMeta, want] of [
    ['{"step": 2, "bestV', /not valid JSON/],
    ['{"step": "two"}', /trainer\.step = "two"/],
    ['[1]', /not a JSON object/],
  ] as const) {
    writeSafetensors(path, tensors, { ...metadata, trainer: trainerMeta });
    assert.throws(
      () => trainer(dir, [], { resume: true }).fit(),
      (e: Error) => e.message.startsWith(path) && want.test(e.message) && e.name === 'Error',
    );
  }
});

test('fitAsync stops on requestStop with a checkpoint, and a resumed run finishes it', async () => {
  const dir = tmp();
  const tr = trainer(dir, [], { maxSteps: 10, evalEvery: 100 });
  let steps = 0;
  (tr.o as { onStep?: (r: Record<string, number>) => void }).onStep = () => {
    if (++steps === 3) tr.requestStop();
  };
  const r = await tr.fitAsync();
  assert.equal(r.interrupted, true);
  assert.equal(r.step, 3);
  assert.equal(ckptStep(dir), 3);
  const r2 = await trainer(dir, [], { maxSteps: 10, evalEvery: 100, resume: true }).fitAsync();
  assert.equal(r2.interrupted, false);
  assert.equal(r2.step, 10);
});

test('a non-finite validation loss or weight stops the run before a checkpoint is written', () => {
  const dir = tmp();
  const { task, gen } = makeTask();
  let evals = 0;
  task.evaluate = () => (++evals === 2 ? NaN : 1);
  const tr = new Trainer(task, new AdamW(task.model.parameters()), constantSchedule(1e-3), {
    maxSteps: 6,
    outDir: dir,
    evalEvery: 2,
    generators: [gen],
  });
  assert.throws(() => tr.fit(), /step 4: the validation loss \(NaN\) is not finite/);
  assert.equal(ckptStep(dir), 2);
  // weights made infinite by an update that the loss did not yet see
  const dir2 = tmp();
  const t2 = trainer(dir2, [], { maxSteps: 6, evalEvery: 100, checkpointEvery: 2 });
  const w = t2.task.model.parameters()[0];
  (t2.o as { onStep?: (r: Record<string, number>) => void }).onStep = (r) => {
    if (r.step === 4) w.f32[0] = Infinity; // after step 4's update, before its checkpoint
  };
  assert.throws(() => t2.fit(), /step 4: a weight is not finite/);
  assert.equal(ckptStep(dir2), 2, 'the step-2 checkpoint is kept, not overwritten');
});
