/**
 * The depth seam: the encoder and decoder stacks run their layers through a DepthStrategy;
 * the fixed stack equals applying the layers by hand, and another strategy plugs in
 * without touching the stack (a shared layer applied recurrently, as the Universal
 * Transformer does).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import { LayerNorm } from '../../src/nn/layers.js';
import { DepthStrategy, type ApplyLayer } from '../../src/nn/stack.js';
import { TransformerEncoder, makeEncoderLayers } from '../../src/nn/transformer.js';
import { maxAbsDiff } from '../helpers.js';

const opts = { dimFeedforward: 16, dropout: 0, generator: new Generator(3) };

test('the fixed stack equals the layers applied in order, then the final norm', () => {
  const layers = makeEncoderLayers(3, 8, 2, opts);
  const norm = new LayerNorm(8);
  const enc = new TransformerEncoder(layers, norm);
  const x = randn([2, 5, 8], new Generator(4));
  const got = noGrad(() => enc.forward(x));
  const want = noGrad(() => norm.forward(layers.reduce((h, l) => l.forward(h), x)));
  assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-6);
  // The strategy adds no state-dict names.
  assert.ok([...enc.stateDict().keys()].every((k) => /^(layers\.\d|norm)\./.test(k)));
});

/** Layer 0 applied `steps` times: a shared-weight recurrent stack. */
class Recurrent extends DepthStrategy {
  readonly kind = 'recurrent';
  calls: number[] = [];
  constructor(readonly steps: number) {
    super();
  }
  run<L>(layers: readonly L[], x: Tensor, apply: ApplyLayer<L>): Tensor {
    let h = x;
    for (let s = 0; s < this.steps; s++) {
      this.calls.push(0);
      h = apply(layers[0], h, 0);
    }
    return h;
  }
}

test('another depth strategy runs the same stack: one layer shared over 4 steps', () => {
  const layers = makeEncoderLayers(1, 8, 2, opts);
  const depth = new Recurrent(4);
  const enc = new TransformerEncoder(layers, null, depth);
  const x = randn([1, 3, 8], new Generator(5));
  const got = noGrad(() => enc.forward(x, { isCausal: true }));
  const l = layers[0];
  let want = x;
  noGrad(() => {
    for (let s = 0; s < 4; s++) want = l.forward(want, { isCausal: true });
  });
  assert.deepEqual(depth.calls, [0, 0, 0, 0]);
  assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-6);
  const once = noGrad(() => l.forward(x, { isCausal: true }));
  assert.ok(maxAbsDiff(got.f32, once.f32) > 1e-3, 'four steps differ from one');
});
