/**
 * `export --format safetensors-hf`: the GPT-2 checkpoint is checked by running Hugging Face
 * GPT-2's forward (transformers models/gpt2/modeling_gpt2.py: wte + wpe, per block
 * x + attn(ln_1(x)), x + mlp(ln_2(x)) with Conv1D y = x W + b, then ln_f and the tied head)
 * written out here in plain loops over the file's tensors, against our model's logits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { exportModel } from '../../src/export/index.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { noGrad } from '../../src/autograd.js';
import { tensor } from '../../src/tensor.js';
import { assertClose } from '../helpers.js';
import { classifierDir, lmDir, tempDir } from './model-dirs.js';

type Weights = (name: string) => Float32Array;

/** x (T, n) W (n, m) + b (m): HF's Conv1D. */
function conv1d(x: Float32Array, T: number, w: Float32Array, b: Float32Array): Float32Array {
  const m = b.length;
  const n = w.length / m;
  const y = new Float32Array(T * m);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < m; j++) {
      let s = b[j];
      for (let i = 0; i < n; i++) s += x[t * n + i] * w[i * m + j];
      y[t * m + j] = s;
    }
  return y;
}

function layerNorm(
  x: Float32Array,
  T: number,
  w: Float32Array,
  b: Float32Array,
  eps: number,
): Float32Array {
  const C = w.length;
  const y = new Float32Array(T * C);
  for (let t = 0; t < T; t++) {
    const row = x.subarray(t * C, (t + 1) * C);
    const mean = row.reduce((a, v) => a + v, 0) / C;
    const v = row.reduce((a, u) => a + (u - mean) ** 2, 0) / C;
    for (let c = 0; c < C; c++) y[t * C + c] = ((row[c] - mean) / Math.sqrt(v + eps)) * w[c] + b[c];
  }
  return y;
}

/** Causal multi-head attention over qkv (T, 3C) -> (T, C), HF GPT-2's _attn. */
function attention(qkv: Float32Array, T: number, C: number, H: number): Float32Array {
  const D = C / H;
  const out = new Float32Array(T * C);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) {
      const s = Array.from({ length: t + 1 }, (_, u) => {
        let dot = 0;
        for (let d = 0; d < D; d++)
          dot += qkv[t * 3 * C + h * D + d] * qkv[u * 3 * C + C + h * D + d];
        return dot / Math.sqrt(D);
      });
      const max = Math.max(...s);
      const e = s.map((v) => Math.exp(v - max));
      const z = e.reduce((a, v) => a + v, 0);
      for (let d = 0; d < D; d++)
        out[t * C + h * D + d] = e.reduce(
          (a, p, u) => a + (p / z) * qkv[u * 3 * C + 2 * C + h * D + d],
          0,
        );
    }
  return out;
}

const add = (a: Float32Array, b: Float32Array): Float32Array => a.map((v, i) => v + b[i]);
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** erf from Numerical Recipes' erfc Chebyshev fit (fractional error < 1.2e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x -
          1.26551223 +
          t *
            (1.00002368 +
              t *
                (0.37409196 +
                  t *
                    (0.09678418 +
                      t *
                        (-0.18628806 +
                          t *
                            (0.27886807 +
                              t *
                                (-1.13520398 +
                                  t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}

/** HF GPT-2 forward on ids: logits (T, V). */
function gpt2Forward(w: Weights, cfg: Record<string, number>, ids: number[]): Float32Array {
  const [C, H, L, eps] = [cfg.n_embd, cfg.n_head, cfg.n_layer, cfg.layer_norm_epsilon];
  const T = ids.length;
  const wte = w('transformer.wte.weight');
  const wpe = w('transformer.wpe.weight');
  let x: Float32Array = new Float32Array(T * C).map(
    (_, k) => wte[ids[Math.floor(k / C)] * C + (k % C)] + wpe[k],
  );
  for (let i = 0; i < L; i++) {
    const p = (n: string): Float32Array => w(`transformer.h.${i}.${n}`);
    const a = layerNorm(x, T, p('ln_1.weight'), p('ln_1.bias'), eps);
    const qkv = conv1d(a, T, p('attn.c_attn.weight'), p('attn.c_attn.bias'));
    x = add(x, conv1d(attention(qkv, T, C, H), T, p('attn.c_proj.weight'), p('attn.c_proj.bias')));
    const m = layerNorm(x, T, p('ln_2.weight'), p('ln_2.bias'), eps);
    const hidden = conv1d(m, T, p('mlp.c_fc.weight'), p('mlp.c_fc.bias')).map(gelu);
    x = add(x, conv1d(hidden, T, p('mlp.c_proj.weight'), p('mlp.c_proj.bias')));
  }
  const f = layerNorm(x, T, w('transformer.ln_f.weight'), w('transformer.ln_f.bias'), eps);
  const V = wte.length / C;
  const logits = new Float32Array(T * V);
  for (let t = 0; t < T; t++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += f[t * C + c] * wte[v * C + c];
      logits[t * V + v] = s;
    }
  return logits;
}

for (const position of ['learned', 'sinusoidal']) {
  test(`safetensors-hf (${position} positions): HF GPT-2's forward on the written checkpoint equals our logits`, () => {
    const { dir, model: lm } = lmDir({ position }, 0);
    const out = join(tempDir('tts-export-hf'), 'gpt2');
    exportModel(dir, 'safetensors-hf', out);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<
      string,
      number
    >;
    const st = readSafetensors(join(out, 'model.safetensors'));
    assert.equal(st.metadata?.format, 'pt');
    assert.ok(!st.tensors.has('lm_head.weight'), 'the head is tied to wte, as HF saves GPT-2');
    assert.equal(st.tensors.size, 2 + 12 * lm.config.numLayers + 2);
    const w: Weights = (name) => {
      const t = st.tensors.get(name);
      assert.ok(t, `missing ${name}`);
      return toFloat32(t);
    };
    const ids = [4, 9, 15, 7, 6];
    const ours = noGrad(() => lm.forward(tensor([ids], undefined, 'int32')).f32);
    assertClose(gpt2Forward(w, cfg, ids), ours, 1e-4, 0, 'logits');
  });
}

test('safetensors-hf refuses what GPT2LMHeadModel cannot compute, naming the option', () => {
  const cases: [string, RegExp][] = [
    [
      lmDir({ normFirst: false }, 0).dir,
      /converts pre-LN models only .* normFirst false \(post-LN\)/,
    ],
    [lmDir({ norm: 'rms' }, 0).dir, /supports norm 'layer' only .* this model uses 'rms'/],
    [classifierDir().dir, /converts DecoderLM \(to GPT2LMHeadModel\) only; EncoderClassifier/],
  ];
  for (const [dir, message] of cases)
    assert.throws(
      () => exportModel(dir, 'safetensors-hf', join(tempDir('tts-export-bad'), 'o')),
      message,
    );
});
