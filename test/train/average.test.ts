/**
 * Checkpoint averaging (--average-checkpoints N): the final model is the elementwise mean of
 * the snapshots written at the last N validations; N = 1 is the plain final model; a run
 * that crashed and resumed averages the same snapshots; bad N is refused by name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { AdamW } from '../../src/train/optim.js';
import { cosineSchedule } from '../../src/train/schedule.js';
import { Trainer, type TrainerOptions, type TrainTask } from '../../src/train/trainer.js';
import { averageStates, SnapshotAverager, type StateArrays } from '../../src/train/average.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { backends } from '../helpers.js';
import { withBackend } from '../../src/backend/index.js';
import { cli, lmText, lmTrain, tmp } from '../cli/in-process.js';

const V = 7;
const T = 6;
const dir = (): string => mkdtempSync(join(tmpdir(), 'tts-avg-'));

/** A tiny LM task whose batches are a pure function of (step, micro); dropout on. */
function makeTask() {
  const gen = new Generator(3);
  const model = new DecoderLM(
    { vocabSize: V, blockSize: T, dModel: 8, nhead: 2, numLayers: 1, dropout: 0.1 },
    gen,
  );
  const batch = (step: number, B: number) => {
    const g = new Generator(100 + step);
    const x = Array.from({ length: B * T }, () => g.randint(V));
    return {
      x: tensor(Int32Array.from(x), [B, T]),
      y: tensor(Int32Array.from(x.map((t) => (t + 1) % V)), [B * T]),
    };
  };
  const task: TrainTask = {
    model,
    loss(step) {
      const { x, y } = batch(step, 3);
      return { loss: F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y), tokens: y.size };
    },
    evaluate() {
      model.eval();
      const { x, y } = batch(0, 4);
      return noGrad(() => F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y).item());
    },
    evaluateExtra: () => ({ valid_score: model.wte.weight.f32[0] }), // any extra metric
  };
  return { task, gen, model };
}

/** Train to maxSteps (evaluating every 2 steps); returns the final parameters and the trainer. */
function run(outDir: string, maxSteps: number, extra: Partial<TrainerOptions> = {}) {
  const { task, gen, model } = makeTask();
  const trainer = new Trainer(
    task,
    new AdamW(model.parameters(), { lr: 1e-2 }),
    cosineSchedule(1e-2, 2, 12),
    {
      maxSteps,
      outDir,
      evalEvery: 2,
      generators: [gen],
      ...extra,
    },
  );
  const result = trainer.fit();
  const params = new Map([...model.stateDict()].map(([n, p]) => [n, p.f32.slice()]));
  return { result, params, trainer, task };
}

function readSnapshot(path: string): StateArrays {
  const m: StateArrays = new Map();
  for (const [n, t] of readSafetensors(path).tensors)
    m.set(n, { shape: t.shape, data: toFloat32(t) });
  return m;
}

test('averageStates is the elementwise mean; mismatched names or shapes are refused', () => {
  const s = (a: number[], b: number[]): StateArrays =>
    new Map([
      ['w', { shape: [2], data: Float32Array.from(a) }],
      ['b', { shape: [1], data: Float32Array.from(b) }],
    ]);
  const avg = averageStates([s([1, 2], [3]), s([3, 5], [0]), s([2, -1], [0.5])]);
  assert.deepEqual([...avg.get('w')!.data], [2, 2]);
  assert.deepEqual([...avg.get('b')!.data], [Math.fround(3.5 / 3)]);
  const other: StateArrays = new Map([
    ['w', { shape: [1, 2], data: Float32Array.of(1, 2) }],
    ['b', { shape: [1], data: Float32Array.of(0) }],
  ]);
  assert.throws(
    () => averageStates([s([1, 2], [3]), other]),
    /'w' is \[2\] in the first state dict but \[1, 2\] in number 2/,
  );
  assert.throws(
    () => averageStates([s([1, 2], [3]), new Map([['w', other.get('b')!]])]),
    /state dict 2 has 1 tensors, the first 2/,
  );
  assert.throws(() => averageStates([]), /no state dicts/);
});

for (const be of backends)
  test(`[${be}] the final model is the mean of the last N validations' snapshots`, () =>
    withBackend(be, () => {
      const out = dir();
      const { result, params, task } = run(out, 10, { averageCheckpoints: 3 });
      const averager = new SnapshotAverager(out, 3);
      assert.deepEqual(averager.steps(), [6, 8, 10]); // older ones pruned at each checkpoint
      const snaps = averager
        .steps()
        .map((s) =>
          readSnapshot(join(out, 'snapshots', `step-${String(s).padStart(8, '0')}.safetensors`)),
        );
      for (const [name, p] of params) {
        const mean = p.map(
          (_, j) =>
            (snaps[0].get(name)!.data[j] +
              snaps[1].get(name)!.data[j] +
              snaps[2].get(name)!.data[j]) /
            3,
        );
        for (let j = 0; j < p.length; j++)
          assert.equal(p[j], Math.fround(mean[j]), `${name}[${j}]`); // float64 sum / 3, then float32
        // and the snapshots differ, so the test means something
        assert.notDeepEqual(snaps[0].get(name)!.data, snaps[2].get(name)!.data);
      }
      // metrics.jsonl: the last line compares the last and the averaged model
      const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number>);
      const rec = lines[lines.length - 1];
      assert.deepEqual(rec, result.averaged);
      assert.equal(rec.averaged_checkpoints, 3);
      assert.equal(rec.averaged_from_step, 6);
      assert.equal(rec.valid_loss_last, lines[lines.length - 2].valid_loss);
      assert.equal(rec.valid_score_last, lines[lines.length - 2].valid_score);
      assert.equal(rec.valid_score_averaged, (task.model as DecoderLM).wte.weight.f32[0]);
      assert.notEqual(rec.valid_loss_averaged, rec.valid_loss_last);
    }));

test('N = 1 gives exactly the plain final model', () => {
  const plain = run(dir(), 8).params;
  const one = run(dir(), 8, { averageCheckpoints: 1 });
  assert.equal(one.result.averaged?.averaged_checkpoints, 1);
  assert.equal(one.result.averaged?.valid_loss_averaged, one.result.averaged?.valid_loss_last);
  for (const [name, p] of plain) assert.deepEqual(one.params.get(name), p, name);
});

/** A run (validating every 2 steps, checkpoints every 4) that crashes in step 8's callback. */
function crashedRun(): string {
  const out = dir();
  assert.throws(
    () =>
      run(out, 10, {
        averageCheckpoints: 3,
        checkpointEvery: 4,
        onStep: (r) => {
          if (r.step === 8) throw new Error('crash');
        },
      }),
    /crash/,
  );
  // snapshots 2, 4, 6, 8 written, the last checkpoint at step 4
  assert.deepEqual(new SnapshotAverager(out, 3).steps(), [2, 4, 6, 8]);
  return out;
}

test('a run that crashed after a validation and resumed averages the same snapshots', () => {
  const full = run(dir(), 10, { averageCheckpoints: 3, checkpointEvery: 4 }).params;
  const out = crashedRun();
  const resumed = run(out, 10, { averageCheckpoints: 3, checkpointEvery: 4, resume: true });
  assert.deepEqual(resumed.result.averaged?.averaged_from_step, 6);
  for (const [name, p] of full) assert.deepEqual(resumed.params.get(name), p, name);
});

test('resuming drops the snapshots after the checkpoint (the resumed run may validate elsewhere)', () => {
  const out = crashedRun();
  const resumed = run(out, 10, { averageCheckpoints: 3, evalEvery: 5, resume: true });
  assert.deepEqual(new SnapshotAverager(out, 3).steps(), [4, 5, 10]); // not 6 and 8
  assert.equal(resumed.result.averaged?.averaged_from_step, 4);
});

test('a finished run resumed to more steps averages the new last N, logged once', () => {
  const full = run(dir(), 10, { averageCheckpoints: 3 }).params;
  const out = dir();
  run(out, 8, { averageCheckpoints: 3 });
  const resumed = run(out, 10, { averageCheckpoints: 3, resume: true });
  for (const [name, p] of full) assert.deepEqual(resumed.params.get(name), p, name);
  const averagedLines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('averaged_checkpoints'));
  assert.equal(averagedLines.length, 1);
  assert.equal(JSON.parse(averagedLines[0]).step, 10);
});

test('averageCheckpoints must be a positive integer (Trainer and CLI name it)', async () => {
  for (const bad of [0, -1, 1.5])
    assert.throws(
      () => run(dir(), 2, { averageCheckpoints: bad }),
      new RegExp(`averageCheckpoints must be a positive integer, got ${bad}`),
    );
  const d = tmp();
  const r = await cli([
    ...lmTrain(lmText(d), join(d, 'm'), '--steps', '2'),
    '--average-checkpoints',
    '0',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err, /--average-checkpoints must be an integer >= 1, got '0'/);
});

test('train --average-checkpoints: the saved model is the average, the log says so', async () => {
  const d = tmp();
  const out = join(d, 'm');
  const r = await cli([
    ...lmTrain(lmText(d), out, '--steps', '4', '--eval-every', '2'),
    '--average-checkpoints',
    '2',
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /averaged the last 2 validations \(steps 2\.\.4\): valid_loss [\d.]+ -> [\d.]+/,
  );
  const saved = readSnapshot(join(out, 'model.safetensors'));
  const avg = new SnapshotAverager(out, 2).average()!;
  for (const [name, t] of saved) assert.deepEqual(t.data, avg.state.get(name)!.data, name);
});
