/**
 * Case onnx-generate (issue 16): our `generate` against onnxruntime-node running the ONNX
 * export of the same model with its KV cache (the engine transformers.js uses), batch 1,
 * greedy, 256 new tokens after an 8-token prompt, same process, same run: tokens/s ratio.
 * Target: ours >= 1.5x.
 *
 * The model is the case-1 architecture (bench/lm-common.ts; untrained weights: the work per
 * token does not depend on them) with a position table of prompt + 256 = 264 entries, so
 * neither side slides a window. onnxruntime runs with its default session options (all
 * cores, graph optimizations on), as transformers.js creates its sessions; the loop feeds
 * input_ids, attention_mask, position_ids and the previous step's present.* back as
 * past_key_values.*, and takes the argmax of the last logits row. Both sides must produce
 * the same tokens (the row says so).
 * Timing: one warm-up each, then the median of REPS generations.
 */
import * as ort from 'onnxruntime-node';
import { setBackend } from '../src/backend/index.js';
import { generate } from '../src/decode/generate.js';
import { decoderLMToOnnx } from '../src/export/decoder-lm-onnx.js';
import { LM_CONFIG, makeLM, shakespeareTokens } from './lm-common.js';
import type { CaseResult } from './matmul.js';
import { median, r2 } from './peer.js';

const NEW_TOKENS = 256;
const PROMPT_LEN = 8;
const REPS = 3;

const i64 = (v: number[], dims: number[]): ort.Tensor =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(v, (x) => BigInt(x)),
    dims,
  );

/** Greedy generation in onnxruntime with the exported graph's cache. @returns the new tokens */
async function ortGenerate(
  s: ort.InferenceSession,
  prompt: number[],
  H: number,
  D: number,
): Promise<number[]> {
  const V = LM_CONFIG.vocabSize;
  let past: Record<string, ort.Tensor> = {};
  for (let i = 0; i < LM_CONFIG.numLayers; i++)
    for (const kv of ['key', 'value'])
      past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
        1,
        H,
        0,
        D,
      ]);
  let ids = prompt;
  let P = 0;
  const out: number[] = [];
  for (let n = 0; n < NEW_TOKENS; n++) {
    const T = ids.length;
    const r = await s.run({
      input_ids: i64(ids, [1, T]),
      attention_mask: i64(new Array<number>(P + T).fill(1), [1, P + T]),
      position_ids: i64(
        Array.from({ length: T }, (_, t) => P + t),
        [1, T],
      ),
      ...past,
    });
    const logits = (r.logits.data as Float32Array).subarray((T - 1) * V, T * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
    out.push(best);
    past = {};
    for (let i = 0; i < LM_CONFIG.numLayers; i++)
      for (const kv of ['key', 'value'])
        past[`past_key_values.${i}.${kv}`] = r[`present.${i}.${kv}`];
    P += T;
    ids = [best];
  }
  return out;
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

export async function onnxGenerateCase(): Promise<CaseResult> {
  setBackend('native');
  const prompt = Array.from(shakespeareTokens().subarray(0, PROMPT_LEN));
  const { model } = makeLM(1337, PROMPT_LEN + NEW_TOKENS);
  model.eval();
  const H = LM_CONFIG.nhead;
  const D = LM_CONFIG.dModel / H;
  const session = await ort.InferenceSession.create(decoderLMToOnnx(model));
  const gen = (): number[] => generate(model, prompt, { maxNewTokens: NEW_TOKENS, temperature: 0 });
  const same = JSON.stringify(gen()) === JSON.stringify(await ortGenerate(session, prompt, H, D));
  const oursMs = await timeAsync(async () => gen());
  const ortMs = await timeAsync(() => ortGenerate(session, prompt, H, D));
  await session.release();
  const tps = (ms: number): number => Math.round((NEW_TOKENS / ms) * 1000);
  return {
    title: 'onnx-generate (256 tokens, greedy, batch 1: ours vs onnxruntime-node on the export)',
    rows: [
      {
        metric: 'tokens/s, KV cache',
        ours: tps(oursMs),
        onnxruntime: tps(ortMs),
        ratio: r2(ortMs / oursMs),
        ours_ms: r2(oursMs),
        onnxruntime_ms: r2(ortMs),
        same_tokens: same ? 'yes' : 'NO',
        target: '>= 1.5',
      },
    ],
    notes: [
      `case-1 layers/widths, ${PROMPT_LEN + NEW_TOKENS}-entry position table; onnxruntime-node ${ort.env.versions.common} default session options; median of ${REPS} generations after one warm-up`,
    ],
  };
}
