/**
 * Trainer: exact resume (same losses as an uninterrupted run, dropout included), gradient
 * accumulation, clipping, early stopping, metrics.jsonl, checkpoints refused when corrupt.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { tensor, randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { AdamW } from '../../src/train/optim.js';
import { constantSchedule, cosineSchedule } from '../../src/train/schedule.js';
import { Trainer, clipGradNorm, type TrainTask } from '../../src/train/trainer.js';

const V = 11;
const T = 8;
function makeTask(seed: number, dropout: number) {
  const gen = new Generator(seed);
  const model = new DecoderLM(
    { vocabSize: V, blockSize: T, dModel: 16, nhead: 2, numLayers: 1, dropout },
    gen,
  );
  const batch = (step: number, micro: number, B: number) => {
    const g = new Generator(1000 * step + micro); // a pure function of (step, micro)
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < B * T; i++) {
      const t = g.randint(V);
      x.push(t);
      y.push((t + 1) % V); // learnable: next = current + 1
    }
    return { x: tensor(Int32Array.from(x), [B, T]), y: tensor(Int32Array.from(y), [B * T]) };
  };
  const task: TrainTask & { batchSize: number } = {
    model,
    batchSize: 4,
    loss(step, micro) {
      const { x, y } = batch(step, micro, this.batchSize);
      return { loss: F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y), tokens: y.size };
    },
    evaluate() {
      model.eval();
      const { x, y } = batch(0, 99, 8);
      return noGrad(() => F.crossEntropy(F.reshape(model.forward(x), [-1, V]), y).item());
    },
  };
  return { task, gen, model };
}

function run(outDir: string, maxSteps: number, resume: boolean, extra = {}) {
  const { task, gen } = makeTask(5, 0.1);
  const opt = new AdamW(task.model.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  const trainer = new Trainer(task, opt, cosineSchedule(1e-2, 2, 12), {
    maxSteps,
    outDir,
    resume,
    evalEvery: 3,
    generators: [gen],
    onStep: (r) => losses.push(r.loss),
    ...extra,
  });
  const result = trainer.fit();
  return { losses, result, trainer };
}

test('a resumed run gives the same losses as an uninterrupted one (dropout on)', () => {
  const a = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  const b = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  const full = run(a, 10, false).losses;
  const first = run(b, 6, false).losses;
  const rest = run(b, 10, true).losses; // new model, optimizer and generator, restored from step 6
  assert.equal(first.length, 6);
  assert.equal(rest.length, 4);
  assert.deepEqual([...first, ...rest], full);
  const steps = readFileSync(join(b, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(full[9] < full[0], 'the loss should go down');
});

test('resuming from a checkpoint written mid-run (not at the end) also matches', () => {
  const a = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  const full = run(a, 9, false, { checkpointEvery: 4 }).losses;
  // Simulate a crash after step 9's metrics but with the last checkpoint at step 8:
  const b = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  run(b, 8, false, { checkpointEvery: 4 });
  const rest = run(b, 9, true, { checkpointEvery: 4 }).losses;
  assert.deepEqual(rest, full.slice(8));
});

test('a corrupt checkpoint is refused before anything changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  run(dir, 3, false);
  const path = join(dir, 'checkpoint.safetensors');
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 10)); // truncated
  const { task, gen, model } = makeTask(5, 0.1);
  const before = model.wte.weight.f32.slice();
  const genState = gen.getState();
  const tr = new Trainer(task, new AdamW(task.model.parameters()), constantSchedule(1e-3), {
    maxSteps: 5,
    outDir: dir,
    resume: true,
    generators: [gen],
  });
  assert.throws(() => tr.fit(), /offsets|bytes|data/i);
  assert.deepEqual(model.wte.weight.f32, before);
  assert.deepEqual(gen.getState(), genState);
});

test('gradient accumulation: 2 micro-batches give the mean of their gradients', () => {
  const { task } = makeTask(7, 0);
  task.batchSize = 2;
  const params = task.model.parameters();
  // Reference: gradients of each micro-batch separately, averaged.
  const grads: Float32Array[][] = [];
  for (const micro of [0, 1]) {
    task.model.zeroGrad();
    task.loss(1, micro).loss.backward();
    grads.push(params.map((p) => p.grad!.f32.slice()));
  }
  const opt = new AdamW(params, { lr: 0 });
  let captured: Float32Array[] = [];
  opt.step = () => {
    captured = params.map((p) => p.grad!.f32.slice());
  };
  const dir = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  new Trainer(task, opt, constantSchedule(0), {
    maxSteps: 1,
    outDir: dir,
    gradAccumSteps: 2,
    clipGradNorm: null,
  }).fit();
  captured.forEach((g, i) => {
    for (let j = 0; j < g.length; j++)
      assert.ok(Math.abs(g[j] - (grads[0][i][j] + grads[1][i][j]) / 2) < 1e-6);
  });
});

test('clipGradNorm scales to the max norm and returns the norm before clipping', () => {
  const a = randn([3]).requiresGrad_();
  const b = randn([2]).requiresGrad_();
  a.grad = tensor([3, 0, 0]);
  b.grad = tensor([0, 4]);
  assert.ok(Math.abs(clipGradNorm([a, b], 1) - 5) < 1e-6);
  const n = Math.hypot(...a.grad.f32, ...b.grad.f32);
  assert.ok(Math.abs(n - 1) < 1e-5);
  assert.ok(Math.abs(clipGradNorm([a, b], 10) - n) < 1e-6, 'below the max: unchanged');
});

test('early stopping after `patience` evaluations without improvement', () => {
  const { task } = makeTask(9, 0);
  let calls = 0;
  task.evaluate = () => 10 + calls++; // never improves after the first
  const dir = mkdtempSync(join(tmpdir(), 'tts-tr-'));
  const r = new Trainer(task, new AdamW(task.model.parameters()), constantSchedule(1e-3), {
    maxSteps: 100,
    outDir: dir,
    evalEvery: 2,
    earlyStoppingPatience: 2,
  }).fit();
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.step, 6); // evals at 2 (best), 4, 6
  assert.equal(r.bestValid, 10);
});
