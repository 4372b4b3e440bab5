/**
 * Parity with PyTorch 1.13.1: the fixtures in test/fixtures/parity were written by
 * scripts/make_fixtures.py from torch.nn.MultiheadAttention, TransformerEncoderLayer,
 * TransformerDecoderLayer, Transformer and a GPT-style LM with the same weights.
 *
 * Tolerances: outputs within 1e-5 absolute; each parameter's and input's gradient within
 * 1e-4 relative to that gradient's largest magnitude (max |ours - torch| / max |torch|).
 * The largest differences seen are printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { Tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { Module } from '../../src/nn/module.js';
import {
  Transformer,
  TransformerDecoderLayer,
  TransformerEncoderLayer,
} from '../../src/nn/transformer.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { loadFixture, type Fixture } from './fixture.js';

const OUT_ATOL = 1e-5;
const GRAD_RTOL = 1e-4;

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function checkOutput(t: TestContext, what: string, ours: Tensor, theirs: Tensor): void {
  assert.deepEqual([...ours.shape], [...theirs.shape], `${what}: shape`);
  const d = maxAbsDiff(ours.f32, theirs.f32);
  t.diagnostic(`${what}: max abs diff ${d.toExponential(2)}`);
  assert.ok(d <= OUT_ATOL, `${what}: max abs diff ${d} > ${OUT_ATOL}`);
}

function checkGrad(t: TestContext, what: string, ours: Tensor | null, theirs: Tensor): number {
  assert.ok(ours, `${what}: no gradient`);
  const rel = maxAbsDiff(ours.f32, theirs.f32) / Math.max(maxAbs(theirs.f32), 1e-12);
  assert.ok(rel <= GRAD_RTOL, `${what}: relative diff ${rel} > ${GRAD_RTOL}`);
  return rel;
}

/** Backprop sum(out * lossWeight) and compare every parameter's and input's gradient. */
function checkGrads(
  t: TestContext,
  fx: Fixture,
  model: Module,
  out: Tensor,
  inputs: Record<string, Tensor>,
): void {
  F.sum(F.mul(out, fx.get('input/lossWeight'))).backward();
  let worst = 0;
  for (const [name, p] of model.stateDict())
    worst = Math.max(worst, checkGrad(t, `grad ${name}`, p.grad, fx.get(`grad/${name}`)));
  for (const [name, x] of Object.entries(inputs)) {
    if (fx.has(`grad/input/${name}`))
      worst = Math.max(
        worst,
        checkGrad(t, `grad input ${name}`, x.grad, fx.get(`grad/input/${name}`)),
      );
  }
  t.diagnostic(`gradients: max relative diff ${worst.toExponential(2)}`);
}

const mask = (fx: Fixture, n: string): Tensor | null =>
  fx.has(`mask/${n}`) ? fx.get(`mask/${n}`) : null;
const input = (fx: Fixture, n: string): Tensor => fx.get(`input/${n}`).requiresGrad_(true);
const num = (fx: Fixture, k: string): number => fx.config[k] as number;

const mhaCases = ['mha_self_kpm', 'mha_self_causal_perhead', 'mha_cross_both', 'mha_float_mask'];
const encCases = ['enc_layer_post_relu', 'enc_layer_pre_gelu'];
const decCases = ['dec_layer_post_relu', 'dec_layer_pre_gelu'];
const trfCases = [
  'transformer_post_relu_both',
  'transformer_pre_gelu_causal',
  'transformer_post_relu_padding',
  'transformer_pre_relu_eps',
];

function layerOpts(fx: Fixture) {
  return {
    dimFeedforward: num(fx, 'dim_feedforward'),
    dropout: 0,
    activation: fx.config.activation as 'relu' | 'gelu',
    layerNormEps: num(fx, 'layer_norm_eps'),
    normFirst: fx.config.norm_first as boolean,
  };
}

for (const backendName of backends) {
  describe(`PyTorch parity (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    for (const name of mhaCases) {
      test(`nn.MultiheadAttention: ${name}`, (t) => {
        const fx = loadFixture(name);
        const mha = new MultiheadAttention(num(fx, 'embed_dim'), num(fx, 'num_heads'));
        mha.loadStateDict(fx.params());
        const query = input(fx, 'query');
        const key = fx.config.self ? query : input(fx, 'key');
        const { out, weights } = mha.forward(query, key, key, {
          attnMask: mask(fx, 'attn_mask'),
          keyPaddingMask: mask(fx, 'key_padding_mask'),
          needWeights: fx.config.need_weights as boolean,
          averageAttnWeights: fx.config.average_attn_weights as boolean,
        });
        checkOutput(t, 'output', out, fx.get('output/out'));
        if (fx.has('output/weights')) checkOutput(t, 'weights', weights!, fx.get('output/weights'));
        checkGrads(t, fx, mha, out, fx.config.self ? { query } : { query, key });
      });
    }

    for (const name of encCases) {
      test(`nn.TransformerEncoderLayer: ${name}`, (t) => {
        const fx = loadFixture(name);
        const layer = new TransformerEncoderLayer(
          num(fx, 'd_model'),
          num(fx, 'nhead'),
          layerOpts(fx),
        );
        layer.loadStateDict(fx.params());
        const x = input(fx, 'x');
        const out = layer.forward(x, {
          srcMask: mask(fx, 'src_mask'),
          srcKeyPaddingMask: mask(fx, 'src_key_padding_mask'),
        });
        checkOutput(t, 'output', out, fx.get('output/out'));
        checkGrads(t, fx, layer, out, { x });
      });
    }

    for (const name of decCases) {
      test(`nn.TransformerDecoderLayer: ${name}`, (t) => {
        const fx = loadFixture(name);
        const layer = new TransformerDecoderLayer(
          num(fx, 'd_model'),
          num(fx, 'nhead'),
          layerOpts(fx),
        );
        layer.loadStateDict(fx.params());
        const tgt = input(fx, 'tgt');
        const memory = input(fx, 'memory');
        const out = layer.forward(tgt, memory, {
          tgtMask: mask(fx, 'tgt_mask'),
          memoryMask: mask(fx, 'memory_mask'),
          tgtKeyPaddingMask: mask(fx, 'tgt_key_padding_mask'),
          memoryKeyPaddingMask: mask(fx, 'memory_key_padding_mask'),
        });
        checkOutput(t, 'output', out, fx.get('output/out'));
        checkGrads(t, fx, layer, out, { tgt, memory });
      });
    }

    for (const name of trfCases) {
      test(`nn.Transformer: ${name}`, (t) => {
        const fx = loadFixture(name);
        const model = new Transformer({
          dModel: num(fx, 'd_model'),
          nhead: num(fx, 'nhead'),
          numEncoderLayers: num(fx, 'num_encoder_layers'),
          numDecoderLayers: num(fx, 'num_decoder_layers'),
          ...layerOpts(fx),
        });
        model.loadStateDict(fx.params());
        const src = input(fx, 'src');
        const tgt = input(fx, 'tgt');
        const out = model.forward(src, tgt, {
          srcMask: mask(fx, 'src_mask'),
          tgtMask: mask(fx, 'tgt_mask'),
          memoryMask: mask(fx, 'memory_mask'),
          srcKeyPaddingMask: mask(fx, 'src_key_padding_mask'),
          tgtKeyPaddingMask: mask(fx, 'tgt_key_padding_mask'),
          memoryKeyPaddingMask: mask(fx, 'memory_key_padding_mask'),
        });
        checkOutput(t, 'output', out, fx.get('output/out'));
        checkGrads(t, fx, model, out, { src, tgt });
      });
    }

    test('GPT-style DecoderLM (lm_small): logits, loss and gradients', (t) => {
      const fx = loadFixture('lm_small');
      const lm = new DecoderLM({
        vocabSize: num(fx, 'vocab_size'),
        blockSize: num(fx, 'block_size'),
        dModel: num(fx, 'd_model'),
        nhead: num(fx, 'nhead'),
        numLayers: num(fx, 'num_layers'),
        dimFeedforward: num(fx, 'dim_feedforward'),
        dropout: 0,
      });
      lm.loadStateDict(fx.params());
      const logits = lm.forward(fx.get('input/idx'));
      checkOutput(t, 'logits', logits, fx.get('output/logits'));
      const V = num(fx, 'vocab_size');
      const loss = F.crossEntropy(
        F.reshape(logits, [-1, V]),
        F.reshape(fx.get('input/targets'), [-1]),
      );
      const ref = fx.get('output/loss').item();
      t.diagnostic(`loss ${loss.item()} vs torch ${ref}`);
      assert.ok(Math.abs(loss.item() - ref) <= 1e-5 * Math.max(1, Math.abs(ref)));
      loss.backward();
      let worst = 0;
      for (const [n, p] of lm.stateDict())
        worst = Math.max(worst, checkGrad(t, `grad ${n}`, p.grad, fx.get(`grad/${n}`)));
      t.diagnostic(`gradients: max relative diff ${worst.toExponential(2)}`);
    });

    test('cross-entropy with ignore_index and label smoothing', (t) => {
      const fx = loadFixture('ce_label_smoothing');
      const logits = input(fx, 'logits');
      const loss = F.crossEntropy(logits, fx.get('input/targets'), {
        ignoreIndex: num(fx, 'ignore_index'),
        labelSmoothing: num(fx, 'label_smoothing'),
      });
      assert.ok(Math.abs(loss.item() - fx.get('output/loss').item()) <= 1e-6);
      loss.backward();
      checkGrad(t, 'grad logits', logits.grad, fx.get('grad/input/logits'));
    });
  });
}
