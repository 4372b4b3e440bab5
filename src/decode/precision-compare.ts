/**
 * Greedy decoding in bf16 against fp32 (issue 15 part 2): each prompt is decoded greedily
 * twice on the native backend, once with float32 GEMMs and once with bfloat16 GEMMs
 * (NativeConfig.bf16Gemm: every linear layer's operands rounded to bfloat16, float32
 * accumulation; Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training",
 * arXiv:1905.12322, Sec. 2-3), and the two token sequences are compared.
 *
 * Why the margin: greedy decoding takes the argmax of the logits at each step. If bf16 moves
 * every logit of a step by at most delta, the argmax can change only where fp32's top-1 minus
 * top-2 logit is at most 2 delta (a near tie). Before the first divergence both runs see the
 * same context, so their logits there can be compared position by position; after it the
 * contexts differ and nothing is compared.
 *
 * Letters: P prompts, N new tokens per prompt (maxNewTokens, fewer when eosId stops a run),
 * V vocabulary. Logits and margins are in logit units (natural-log odds).
 */
import { backend } from '../backend/index.js';
import { configureNative, nativeConfig } from '../backend/native.js';
import type { DecoderLM } from '../models/decoder-lm.js';
import { TransformerXL, generateXLSteps } from '../models/transformer-xl.js';
import { generateSteps, type GenerateOptions } from './generate.js';

/** One greedy decode of one prompt in one precision. */
interface GreedyRun {
  /** (N) the new tokens. */
  tokens: number[];
  /** (N) x (V) float32: the logits each token was chosen from (suppressed ids -Infinity). */
  logits: Float32Array[];
  /** Wall time of the decode, in seconds. */
  seconds: number;
}

/** The comparison of one prompt's two greedy decodes. */
export interface PromptPrecisionComparison {
  /** The prompt's token ids. */
  prompt: readonly number[];
  /** (N) the new tokens with fp32 GEMMs. */
  fp32: number[];
  /** (N') the new tokens with bf16 GEMMs. */
  bf16: number[];
  /** 0-based index (among the new tokens) of the first token that differs, or null. */
  divergence: number | null;
  /** fp32's top-1 minus top-2 logit at `divergence` (logit units), or null without one. */
  margin: number | null;
  /** The smallest fp32 top-1 minus top-2 logit over the compared steps (logit units). */
  minMargin: number;
  /**
   * The largest |logit_bf16 - logit_fp32| over the compared steps: those whose context is
   * the same in both runs (0..divergence, or every step without a divergence).
   */
  maxLogitDiff: number;
}

/** Tokens and wall time of one precision over all prompts. */
export interface PrecisionTiming {
  /** New tokens generated (sum over the prompts). */
  tokens: number;
  /** Seconds spent decoding (sum over the prompts; precision switches excluded). */
  seconds: number;
}

/** What compareGreedyPrecision returns. */
export interface GreedyPrecisionComparison {
  /** (P) one comparison per prompt, in order. */
  prompts: PromptPrecisionComparison[];
  fp32: PrecisionTiming;
  bf16: PrecisionTiming;
}

/** Options of compareGreedyPrecision (those of generate that apply to greedy decoding). */
export interface GreedyPrecisionOptions {
  /** Token ids never produced (e.g. specialTokenIds(tokenizer)). Default none. */
  suppressIds?: readonly number[];
  /** Stop a decode after this token. */
  eosId?: number;
}

/**
 * Greedy-decode each prompt with fp32 GEMMs and with bf16 GEMMs and report where the two
 * token sequences first differ, with fp32's top-1 minus top-2 logit margin there. The
 * native backend's bf16Gemm setting in force before the call is restored in a `finally`
 * (also when a decode throws). Prompts are decoded in order, fp32 then bf16 for each.
 * Source: bf16 GEMMs, Kalamkar et al. 2019 (arXiv:1905.12322); greedy decoding, the argmax
 * of the logits at each step (decode/generate.ts, generateXLSteps for a TransformerXL).
 * @param lm a DecoderLM or TransformerXL (put in eval mode while decoding, then restored)
 * @param prompts (P) token-id arrays, each at least one id in [0, V)
 * @param maxNewTokens N, new tokens per prompt and precision (a positive integer)
 * @param opts suppressIds, eosId (as generate's)
 * @returns per prompt the two sequences, the divergence and margins; per precision the
 *   tokens and seconds (tokens/s = tokens / seconds).
 * @throws Error when the backend in use is not native (the js backend has no bf16 GEMM),
 *   when maxNewTokens is not a positive integer, when `prompts` is empty or a prompt is
 *   empty (naming its index); and whatever generate throws (e.g. an id outside the
 *   vocabulary), after restoring the precision.
 */
export function compareGreedyPrecision(
  lm: DecoderLM | TransformerXL,
  prompts: readonly (readonly number[])[],
  maxNewTokens: number,
  opts: GreedyPrecisionOptions = {},
): GreedyPrecisionComparison {
  const name = backend().name;
  if (name !== 'native')
    throw new Error(
      `compareGreedyPrecision: bf16 GEMMs need the native backend (the backend in use is ${name})`,
    );
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens > 0))
    throw new Error(
      `compareGreedyPrecision: maxNewTokens must be a positive integer, got ${maxNewTokens}`,
    );
  if (prompts.length === 0) throw new Error('compareGreedyPrecision: prompts is empty');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error(`compareGreedyPrecision: prompt ${i} has no tokens`);
  });
  const before = nativeConfig().bf16Gemm;
  const fp32: PrecisionTiming = { tokens: 0, seconds: 0 };
  const bf16: PrecisionTiming = { tokens: 0, seconds: 0 };
  const out: PromptPrecisionComparison[] = [];
  try {
    for (const prompt of prompts) {
      configureNative({ bf16Gemm: false });
      const a = greedyRun(lm, prompt, maxNewTokens, opts);
      configureNative({ bf16Gemm: true });
      const b = greedyRun(lm, prompt, maxNewTokens, opts);
      fp32.tokens += a.tokens.length;
      fp32.seconds += a.seconds;
      bf16.tokens += b.tokens.length;
      bf16.seconds += b.seconds;
      out.push({ prompt, ...compareRuns(a, b) });
    }
  } finally {
    configureNative({ bf16Gemm: before });
  }
  return { prompts: out, fp32, bf16 };
}

/** Greedy-decode `prompt` with the precision in force, keeping each step's logits. */
function greedyRun(
  lm: DecoderLM | TransformerXL,
  prompt: readonly number[],
  maxNewTokens: number,
  o: GreedyPrecisionOptions,
): GreedyRun {
  const logits: Float32Array[] = [];
  const opts: GenerateOptions = {
    maxNewTokens,
    temperature: 0,
    suppressIds: o.suppressIds,
    eosId: o.eosId,
    onLogits: (l) => logits.push(Float32Array.from(l)), // (V), copied: the array is reused
  };
  const t0 = performance.now();
  const steps =
    lm instanceof TransformerXL
      ? generateXLSteps(lm, prompt, opts)
      : generateSteps(lm, prompt, opts);
  const tokens = [...steps];
  return { tokens, logits, seconds: (performance.now() - t0) / 1000 };
}

/** The divergence, margins and logit gap of two greedy runs of the same prompt. */
function compareRuns(a: GreedyRun, b: GreedyRun): Omit<PromptPrecisionComparison, 'prompt'> {
  const n = Math.min(a.tokens.length, b.tokens.length);
  let d: number | null = null;
  for (let i = 0; i < n && d === null; i++) if (a.tokens[i] !== b.tokens[i]) d = i;
  if (d === null && a.tokens.length !== b.tokens.length) d = n; // one run stopped (eosId)
  // Steps 0..d see the same context in both runs (d's context is the common prefix).
  const compared = d === null ? n : Math.min(d + 1, a.logits.length);
  let maxLogitDiff = 0;
  let minMargin = Infinity;
  for (let i = 0; i < compared; i++) {
    minMargin = Math.min(minMargin, topMargin(a.logits[i]));
    if (i < b.logits.length)
      maxLogitDiff = Math.max(maxLogitDiff, maxGap(a.logits[i], b.logits[i]));
  }
  const margin = d !== null && d < a.logits.length ? topMargin(a.logits[d]) : null;
  return { fp32: a.tokens, bf16: b.tokens, divergence: d, margin, minMargin, maxLogitDiff };
}

/**
 * Top-1 minus top-2 of one row of logits (V); Infinity when fewer than two are finite.
 * @param logits (V) float32
 */
export function topMargin(logits: Float32Array): number {
  let first = -Infinity;
  let second = -Infinity;
  for (const x of logits) {
    if (x > first) {
      second = first;
      first = x;
    } else if (x > second) second = x;
  }
  return second === -Infinity ? Infinity : first - second;
}

/** Largest |a_i - b_i| over two (V) rows, skipping ids that are -Infinity in both. */
function maxGap(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // also both -Infinity (suppressed)
    const g = Math.abs(a[i] - b[i]);
    m = Math.max(m, Number.isNaN(g) ? Infinity : g);
  }
  return m;
}
