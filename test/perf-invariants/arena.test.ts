/**
 * StepArena (src/arena.ts): training steps run in an arena give the same numbers as
 * without it, reuse the previous step's storage, never release what outlives the step
 * (parameters, .grad, optimizer state), and make a tensor kept past its step fail loudly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import * as F from '../../src/ops/index.js';
import { Generator } from '../../src/random.js';
import { StepArena, Tensor, randn } from '../../src/tensor.js';
import { AdamW } from '../../src/train/optim.js';
import { backends } from '../helpers.js';

const CONFIG = {
  vocabSize: 11,
  blockSize: 8,
  dModel: 32,
  nhead: 2,
  numLayers: 2,
  dimFeedforward: 64,
  dropout: 0.1,
  activation: 'gelu' as const,
  normFirst: true,
};

/** `steps` AdamW steps on fixed random batches (seeded); returns losses and final weights. */
function train(
  steps: number,
  arena: StepArena | null,
  T = 8,
): { losses: number[]; w: Float32Array } {
  const gen = new Generator(5);
  const model = new DecoderLM(CONFIG, new Generator(3));
  const opt = new AdamW(model.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const len = T - (s % 3); // varying shapes: the arena buckets by capacity
    const x = new Tensor(
      Int32Array.from({ length: 4 * len }, () => gen.randint(11)),
      [4, len],
    );
    const y = new Tensor(
      Int32Array.from({ length: 4 * len }, () => gen.randint(11)),
      [4 * len],
    );
    const step = (): number => {
      opt.zeroGrad();
      const logits = model.forward(x);
      const loss = F.crossEntropy(F.reshape(logits, [-1, 11]), y);
      loss.backward();
      opt.step();
      return loss.item();
    };
    losses.push(arena ? arena.run(step) : step());
  }
  return { losses, w: model.parameters()[0].f32.slice() };
}

for (const name of backends) {
  describe(`StepArena (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('steps in an arena give the same losses and weights as without it', () => {
      const plain = train(6, null);
      const arena = new StepArena();
      const a = train(6, arena);
      assert.deepEqual(a.losses, plain.losses);
      assert.deepEqual(a.w, plain.w);
      assert.ok(arena.reused > 0, 'buffers were reused across steps of varying shapes');
      // A tight cap: the same numbers, and no more storage held than the cap between steps.
      const capped = new StepArena(100_000);
      const c = train(6, capped);
      assert.deepEqual(c.losses, plain.losses);
      assert.ok(capped.bytes <= 100_000, `held ${capped.bytes} bytes`);
    });

    test('the second identical step allocates nothing new', () => {
      const arena = new StepArena();
      const model = new DecoderLM({ ...CONFIG, dropout: 0 }, new Generator(3));
      const x = new Tensor(
        Int32Array.from({ length: 64 }, (_, i) => i % 11),
        [8, 8],
      );
      const step = (): number => {
        const loss = F.mean(model.forward(x));
        loss.backward();
        return loss.item();
      };
      const l1 = arena.run(step);
      const held = arena.bytes;
      const l2 = arena.run(step);
      assert.equal(l2, l1);
      assert.equal(arena.bytes, held);
    });

    test('a tensor kept past its step throws on access; .grad and parameters survive', () => {
      const arena = new StepArena();
      const w = randn([64, 64], new Generator(1)).requiresGrad_();
      const x = randn([32, 64], new Generator(2));
      let kept: Tensor | null = null;
      arena.run(() => {
        kept = F.matmul(x, w);
        F.sum(F.mul(kept, kept)).backward();
      });
      assert.throws(() => kept!.f32, /released at the end of a StepArena\.run step/);
      assert.throws(() => kept!.item(), /released/);
      assert.ok(w.grad, 'leaf grad kept');
      // d/dw sum((x w)^2) = 2 x^T (x w), recomputed outside any arena
      const ref = F.mul(F.matmul(F.transpose(x, 0, 1), F.matmul(x, w)), 2);
      const g = w.grad.f32;
      for (let i = 0; i < g.length; i++)
        assert.ok(Math.abs(g[i] - ref.f32[i]) <= 1e-4 * (1 + Math.abs(ref.f32[i])));
      assert.equal(w.f32.length, 64 * 64);
    });

    test('a tiny tensor kept past its step throws the same error as a large one', () => {
      const arena = new StepArena();
      const kept: Tensor[] = [];
      arena.run(() => {
        for (const n of [1, 4, 1023, 1024, 4096, 5000])
          kept.push(F.mul(randn([n], new Generator(n)), 2));
      });
      for (const t of kept) {
        const shape = `\\(${t.shape[0]},\\)`;
        const released = new RegExp(
          `tensor of shape ${shape} was released at the end of a StepArena\\.run step`,
        );
        assert.throws(() => t.f32, released, `f32 of ${t.shape[0]} floats`);
        assert.throws(() => t.item(), released, `item of ${t.shape[0]} floats`);
        assert.throws(() => t.toArray(), released, `toArray of ${t.shape[0]} floats`);
        assert.throws(() => t.tolist(), released, `tolist of ${t.shape[0]} floats`);
      }
      // A clone made inside the step is the caller's, at any size.
      const copy = arena.run(() => F.mul(randn([4], new Generator(4)), 2).clone());
      assert.deepEqual(copy.shape, [4]);
      assert.equal(copy.f32.length, 4);
    });

    test('a small leaf whose gradient is handed through a reshape keeps its .grad after the step', () => {
      const arena = new StepArena();
      const w = randn([2, 3], new Generator(1)).requiresGrad_(); // 6 floats: below the pool size
      const c = randn([6], new Generator(2));
      for (let step = 1; step <= 2; step++) {
        // reshape passes its gradient (a buffer of the arena) on to w without a copy
        arena.run(() =>
          F.sum(
            F.mul(F.reshape(F.mul(F.reshape(w, [6]), 1), [2, 3]), F.reshape(c, [2, 3])),
          ).backward(),
        );
        assert.deepEqual(
          Array.from(w.grad!.f32),
          Array.from(c.f32, (v) => step * v),
          `step ${step}`,
        );
      }
    });

    test('attention weights captured inside a step stay readable after it', () => {
      const arena = new StepArena();
      const mha = new MultiheadAttention(32, 2, { generator: new Generator(3) });
      mha.captureWeights = true;
      const x = randn([2, 20, 32], new Generator(4)); // weights (2, 2, 20, 20): 1600 elements
      arena.run(() => {
        mha.forward(x, x, x, { isCausal: true });
      });
      const w = mha.lastWeights!;
      assert.equal(w.size, 2 * 2 * 20 * 20);
      const row = Array.from(w.f32.subarray(20 * 5, 20 * 6)); // (b 0, h 0, t 5)
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.ok(
        row.slice(6).every((p) => p === 0),
        'causal',
      );
    });

    test('steps do not nest, and a failing step still releases its tensors', () => {
      const arena = new StepArena();
      assert.throws(
        () => arena.run(() => new StepArena().run(() => 0)),
        /an arena step is already running/,
      );
      let kept: Tensor | null = null;
      assert.throws(
        () =>
          arena.run(() => {
            kept = F.mul(randn([2000], new Generator(1)), 2);
            throw new Error('boom');
          }),
        /boom/,
      );
      assert.throws(() => kept!.toArray(), /released/);
      assert.equal(
        arena.run(() => 7),
        7,
        'usable after a failed step',
      );
    });
  });
}

test('StepArena: a size with no free buffer of its class borrows a free one at most a doubling larger', () => {
  const arena = new StepArena();
  arena.run(() => void arena.alloc(10000)); // capacity class 10240
  const held = arena.bytes;
  const reused = arena.reused;
  arena.run(() => {
    const v = arena.alloc(9000); // class 9216: none free, 10240 is borrowed
    assert.equal(v.length, 9000);
  });
  assert.equal(arena.bytes, held, 'no new storage');
  assert.equal(arena.reused, reused + 1);
  arena.run(() => void arena.alloc(3000)); // more than a doubling smaller: storage of its own
  assert.ok(arena.bytes > held);
});
