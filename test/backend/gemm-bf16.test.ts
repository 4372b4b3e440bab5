/**
 * Mixed precision on the native backend (NativeConfig.bf16Gemm, TRANSFORMER_PRECISION=bf16):
 * every matmul / matmulDeferred rounds its operands to bfloat16 and accumulates in float32;
 * the rest (weights, AdamW state, LayerNorm, softmax, attention, loss) stays float32.
 * - a linear layer's matmul under bf16Gemm equals matmulBf16 (the same rounding), and
 *   differs from fp32 (so the switch is really on);
 * - a small decoder LM trained 60 steps with bf16 GEMMs ends within 2% of the fp32 loss
 *   (issue 15 part 2 asks this of 200 steps of case 1; smaller here to keep the suite fast).
 * Legend: B batch, T context, V vocabulary, C width.
 */
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { setBackend, withBackend } from '../../src/backend/index.js';
import { applyPrecision } from '../../src/cli/precision.js';
import { configureNative, loadNativeAddon, nativeConfig } from '../../src/backend/native.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import * as F from '../../src/ops/index.js';
import { Generator } from '../../src/random.js';
import { Tensor } from '../../src/tensor.js';
import { AdamW } from '../../src/train/optim.js';

const addon = loadNativeAddon();
const before = 'error' in addon ? null : nativeConfig(addon);
after(() => {
  if (before && !('error' in addon)) configureNative(before, addon);
});

function random(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => g.uniform() - 0.5);
}

/** Mean loss of the last 10 of `steps` AdamW steps on a fixed token stream. */
function trainLoss(steps: number): number {
  const [B, T, V] = [4, 32, 29];
  const model = new DecoderLM(
    {
      vocabSize: V,
      blockSize: T,
      dModel: 64,
      nhead: 4,
      numLayers: 2,
      dimFeedforward: 128,
      dropout: 0,
      activation: 'gelu',
      normFirst: true,
    },
    new Generator(5),
  );
  const opt = new AdamW(model.parameters(), { lr: 3e-3 });
  // A learnable stream: a noisy periodic sequence.
  const g = new Generator(9);
  const stream = Int32Array.from({ length: 4096 }, (_, i) =>
    g.uniform() < 0.1 ? Math.floor(g.uniform() * V) : (i * 7) % V,
  );
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const start = (s * 131 + b * 977) % (stream.length - T - 1);
      x.set(stream.subarray(start, start + T), b * T);
      y.set(stream.subarray(start + 1, start + T + 1), b * T);
    }
    opt.zeroGrad();
    const logits = model.forward(new Tensor(x, [B, T]));
    const loss = F.crossEntropy(F.reshape(logits, [-1, V]), new Tensor(y, [B * T]));
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  const last = losses.slice(-10);
  return last.reduce((a, b) => a + b, 0) / last.length;
}

describe('bf16 GEMMs (NativeConfig.bf16Gemm)', () => {
  test('matmul under bf16Gemm equals matmulBf16, and differs from fp32', (t: TestContext) => {
    if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
    const [M, N, K] = [70, 90, 130];
    const a = random(M * K, 1);
    const b = random(N * K, 2);
    const bias = new Float32Array(N);
    const fp32 = new Float32Array(M * N);
    const mixed = new Float32Array(M * N);
    const direct = new Float32Array(M * N);
    configureNative({ bf16Gemm: false }, addon);
    addon.matmul(fp32, a, b, 1, M, N, K, false, true, 0, 0, 0, bias);
    addon.matmulBf16(direct, a, b, M, N, K, false, true, 0);
    configureNative({ bf16Gemm: true }, addon);
    addon.matmul(mixed, a, b, 1, M, N, K, false, true, 0, 0, 0, bias);
    configureNative({ bf16Gemm: false }, addon);
    let dDirect = 0;
    let dFp32 = 0;
    for (let i = 0; i < M * N; i++) {
      dDirect = Math.max(dDirect, Math.abs(mixed[i] - direct[i]));
      dFp32 = Math.max(dFp32, Math.abs(mixed[i] - fp32[i]));
    }
    assert.ok(dDirect < 1e-5, `bf16Gemm matmul vs matmulBf16: ${dDirect}`);
    assert.ok(dFp32 > 1e-4, `bf16Gemm matmul should differ from fp32: ${dFp32}`);
  });

  test('60 training steps with bf16 GEMMs end within 2% of the fp32 loss', (t: TestContext) => {
    if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
    setBackend('native');
    configureNative({ bf16Gemm: false }, addon);
    const fp32 = trainLoss(60);
    configureNative({ bf16Gemm: true }, addon);
    const bf16 = trainLoss(60);
    configureNative({ bf16Gemm: false }, addon);
    assert.ok(fp32 < 2.5, `the model should learn the stream (fp32 loss ${fp32})`);
    const rel = Math.abs(bf16 - fp32) / fp32;
    assert.ok(rel <= 0.02, `bf16 loss ${bf16} vs fp32 ${fp32}: ${(100 * rel).toFixed(2)}%`);
  });

  test('--precision: bf16 on native sets bf16Gemm, fp32 clears it, js refuses bf16', (t) => {
    assert.throws(() => withBackend('js', () => applyPrecision('bf16')), /needs the native/);
    withBackend('js', () => applyPrecision('fp32'));
    if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
    withBackend('native', () => applyPrecision('bf16'));
    assert.equal(nativeConfig(addon).bf16Gemm, true);
    withBackend('native', () => applyPrecision('fp32'));
    assert.equal(nativeConfig(addon).bf16Gemm, false);
  });
});
