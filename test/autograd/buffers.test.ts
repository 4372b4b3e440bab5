/**
 * GradBuffers (src/autograd/buffers.ts), the buffer policy of a backward pass, driven
 * directly: a shared pass-through buffer is copied before it is written except by its last
 * entry; only a non-leaf's new buffer may be handed unzeroed; a buffer a queued kernel
 * writes is drained before it is read, and a leaf it writes is finished after the drain.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { backend, setBackend } from '../../src/backend/index.js';
import { GradBuffers } from '../../src/autograd/buffers.js';
import * as F from '../../src/ops/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import { backends } from '../helpers.js';

const leaf = (shape: number[], seed: number): Tensor =>
  randn(shape, new Generator(seed)).requiresGrad_();

const seedOf = (t: Tensor, v: number): Float32Array => new Float32Array(t.size).fill(v);

for (const name of backends) {
  describe(`GradBuffers (${name} backend)`, () => {
    let drains = 0;
    let restore: (() => void) | null = null;
    beforeEach(() => {
      setBackend(name);
      const be = backend();
      const drain = be.drain;
      drains = 0;
      be.drain = () => {
        drains++;
        drain.call(be);
      };
      restore = () => (be.drain = drain);
    });
    afterEach(() => restore?.());

    test('a shared pass-through buffer is copied before a write, except by its last entry', () => {
      const x = leaf([4, 8], 1);
      const a = F.mul(x, 1); // non-leaf inputs of a same-shape add
      const b = F.mul(x, 2);
      const root = F.add(a, b);
      const seed = seedOf(root, 3);
      const bufs = new GradBuffers(root, seed);
      bufs.passThrough(bufs.output(root), root.node!.inputs);
      // A second consumer of a writes into a's gradient: a copy, b still sees the seed.
      const [[ga]] = bufs.inputGrads([a], () => true);
      assert.notEqual(ga, seed);
      assert.deepEqual(ga, seed, 'the copy starts from the shared values');
      ga!.fill(5);
      // b is the buffer's last entry: it takes it over, unchanged by the write into a's.
      const [[gb], [fresh]] = bufs.inputGrads([b], () => true);
      assert.equal(gb, seed);
      assert.equal(fresh, false, 'an existing gradient is never handed fresh');
      assert.ok(seed.every((v) => v === 3));
      bufs.drain();
    });

    test('only a non-leaf gets an unzeroed fresh buffer; the others are zeroed, even recycled ones', () => {
      const n = 2048; // poolable
      const x = leaf([n], 2);
      const h = F.mul(x, 1);
      const k = F.mul(x, 3);
      const root = F.mul(F.add(h, k), 1);
      // Fill the pool with a dirty buffer of n elements: the root's consumed seed.
      const dirty = seedOf(root, 7);
      const warm = new GradBuffers(root, dirty);
      warm.consumed(warm.output(root), null);
      const bufs = new GradBuffers(root, seedOf(root, 1));
      const [[gx, gh, gk], fresh] = bufs.inputGrads([x, h, k], (i) => i !== 2);
      assert.deepEqual(fresh, [false, true, false], 'leaf x: never fresh; k: rule accumulates');
      assert.equal(gx, dirty, 'the leaf gets the recycled buffer');
      assert.ok(
        gx!.every((v) => v === 0),
        'leaf buffer zeroed',
      );
      assert.ok(
        gk!.every((v) => v === 0),
        'accumulated buffer zeroed',
      );
      assert.equal(gh!.length, n);
      bufs.drain();
    });

    test('a buffer a queued kernel writes is drained before it is read; a leaf it writes finishes after', () => {
      const x = leaf([16, 16], 3);
      const h = F.mul(x, 1);
      const root = F.mul(h, 1);
      const bufs = new GradBuffers(root, seedOf(root, 1));
      const out = bufs.output(root);
      const [[gh]] = bufs.inputGrads([h], () => false);
      gh!.fill(2);
      bufs.consumed(out, gh); // as a linear rule whose dweight GEMM still writes h's gradient
      assert.equal(drains, 0);
      const outH = bufs.output(h); // reading h's gradient: wait for the queue first
      assert.equal(drains, 1);
      assert.equal(outH.buf, gh);
      const [[gx]] = bufs.inputGrads([x], () => false);
      gx!.fill(4);
      bufs.consumed(outH, gx); // now x's gradient is being written
      bufs.leaf(x);
      const before = x.grad;
      assert.equal(before, null, 'not finished while a queued kernel writes it');
      bufs.drain();
      assert.equal(drains, 2);
      bufs.finishLateLeaves();
      assert.ok(x.grad, 'finished after the drain');
      assert.ok(x.grad.f32.every((v) => v === 4));
    });

    test('zeroGrad hands parameter gradients back: the next backward reuses the buffer, with fresh values', () => {
      const w = leaf([64, 32], 7); // 2,048 elements: pooled (>= 1,024)
      const x = randn([5, 32], new Generator(8));
      const loss = (): Tensor => F.sum(F.mul(F.linear(x, w), F.linear(x, w)));
      loss().backward();
      const first = w.grad!.f32;
      const want = first.slice();
      GradBuffers.releaseGrad(w);
      assert.equal(w.grad, null);
      loss().backward();
      assert.equal(w.grad!.f32.buffer, first.buffer, 'the released buffer was taken back');
      assert.deepEqual([...w.grad!.f32], [...want], 'and holds this pass gradient only');
    });

    test('released gradients a backward pass does not take are dropped when it ends', () => {
      const w = leaf([64, 32], 10);
      const other = leaf([32, 32], 11); // another length: it cannot take w's buffer
      F.sum(F.mul(w, w)).backward();
      const first = w.grad!.f32;
      GradBuffers.releaseGrad(w);
      F.sum(F.mul(other, other)).backward(); // a pass that does not reach w
      F.sum(F.mul(w, w)).backward();
      assert.notEqual(w.grad!.f32.buffer, first.buffer, 'not kept past the pass');
    });

    test('a leaf that has a .grad accumulates into it (twice the gradient after two passes)', () => {
      const x = leaf([40, 32], 9);
      const y = (): Tensor => F.sum(F.mul(F.mul(x, x), 0.5)); // dy/dx = x
      y().backward();
      y().backward();
      const want = x.f32.map((v) => 2 * v);
      const got = x.grad!.f32;
      assert.ok(got.every((g, i) => Math.abs(g - want[i]) <= 1e-6 * (1 + Math.abs(want[i]))));
    });
  });
}
