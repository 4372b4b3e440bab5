/**
 * Autoregressive generation with a decoder-only LM, with a KV cache: the prompt is run
 * once, then each new token costs one position's forward (keys and values of earlier
 * positions are reused). When the sequence outgrows the context, the window slides and the
 * cache is rebuilt from the last blockSize - 1 tokens.
 *
 * Tokens listed in `suppressIds` (the special tokens <pad>, <unk>, <bos>, <eos> of the
 * tokenizer: see specialTokenIds) are never produced: their logits are set to -Infinity before
 * greedy choice or sampling, as Hugging Face's `suppress_tokens` / `bad_words_ids` do.
 *
 * Shapes: T context length (blockSize), V vocabulary size.
 */
import { noGrad } from '../autograd.js';
import { defaultGenerator, type Generator } from '../random.js';
import { tensor } from '../tensor.js';
import type { DecoderLM } from '../models/decoder-lm.js';
import { sampleToken, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Number of new tokens. */
  maxNewTokens: number;
  /** Stop after this token (included in the output). Never suppressed. */
  eosId?: number;
  /**
   * Token ids never to produce (logit -Infinity), e.g. specialTokenIds(tokenizer). Default none.
   * `eosId`, if given, is exempt so that generation can stop.
   */
  suppressIds?: readonly number[];
  /** Use the KV cache (default true); false re-runs the model on the whole window each step. */
  useCache?: boolean;
  generator?: Generator;
  /** Called with each new token. */
  onToken?: (id: number) => void;
  /**
   * Called at each step, before the token is chosen, with the (V) float32 logits it is chosen
   * from (suppressed ids at -Infinity). The array is reused or the model's: copy it to keep it.
   */
  onLogits?: (logits: Float32Array) => void;
}

/**
 * Continue `prompt` with up to maxNewTokens tokens (all of generateSteps' tokens, each also
 * passed to `opts.onToken`).
 * @param prompt token ids (at least one)
 * @returns the new tokens only
 * @throws Error if the prompt is empty, or `suppressIds` holds an id outside [0, V) or every id.
 */
export function generate(
  lm: DecoderLM,
  prompt: readonly number[],
  opts: GenerateOptions,
): number[] {
  const out: number[] = [];
  for (const id of generateSteps(lm, prompt, opts)) {
    out.push(id);
    opts.onToken?.(id);
  }
  return out;
}

/**
 * The decoding loop of `generate` as a step iterator: each `next()` runs one forward (the
 * prompt at the first step, then one position with the KV cache) and yields the new token.
 * generate collects it; generateStream (tasks/stream.ts) hands the tokens out as they come.
 * The model is in eval mode from the first step until the iterator ends or is returned.
 * @param prompt token ids (at least one)
 * @throws Error (at once, not at the first step) if the prompt is empty, or `suppressIds` holds
 *   an id outside [0, V) or every id.
 */
export function generateSteps(
  lm: DecoderLM,
  prompt: readonly number[],
  opts: GenerateOptions,
): IterableIterator<number> {
  if (prompt.length === 0) throw new Error('generate: the prompt must contain at least one token');
  const T = lm.config.blockSize;
  const V = lm.config.vocabSize;
  const useCache = opts.useCache ?? true;
  let caches = lm.newCaches();
  let cached = 0; // positions in the cache
  let start = 0; // index in seq of the cache's first position
  return samplingSteps(lm, V, prompt, opts, (seq) => {
    // Slide the window: rebuild the cache when this step would exceed the context.
    if (useCache && cached + 1 > T) cached = 0;
    if (!useCache || seq.length - start > T || cached === 0) {
      start = Math.max(0, seq.length - T);
      const window = seq.slice(start);
      caches = lm.newCaches();
      const y = lm.forward(tensor([window], undefined, 'int32'), useCache ? caches : undefined, 0);
      cached = window.length;
      return y.f32.subarray((window.length - 1) * V, window.length * V);
    }
    const y = lm.forward(tensor([[seq[seq.length - 1]]], undefined, 'int32'), caches, cached);
    cached++;
    return y.f32;
  });
}

/** A model whose training flag the sampling loop switches off and restores. */
interface EvalSwitch {
  readonly training: boolean;
  train(mode?: boolean): unknown;
  eval(): unknown;
}

/**
 * The sampling loop shared by the language models (generateSteps; TransformerXL's
 * generateXLSteps): per step, `nextLogits(seq)` (run under noGrad) gives the (V) logits of the
 * position after `seq` (the prompt and the tokens so far), suppressed ids are set to
 * -Infinity, a token is chosen (sampleToken: greedy, temperature, top-k, top-p) and yielded;
 * stops after maxNewTokens tokens or `eosId`. The model is in eval mode while the iterator
 * runs; its flag is restored when it ends or is returned.
 * @throws Error (at once) if `suppressIds` holds an id outside [0, V) or every id.
 */
export function samplingSteps(
  model: EvalSwitch,
  V: number,
  prompt: readonly number[],
  opts: GenerateOptions,
  nextLogits: (seq: readonly number[]) => Float32Array,
): IterableIterator<number> {
  const gen = opts.generator ?? defaultGenerator;
  const suppress = suppressedIds(opts.suppressIds ?? [], V, opts.eosId);
  const masked = new Float32Array(V); // (V) the logits with suppressed ids at -Infinity
  return (function* () {
    const seq = [...prompt];
    const wasTraining = model.training;
    model.eval();
    try {
      for (let n = 0; n < opts.maxNewTokens; n++) {
        let logits = noGrad(() => nextLogits(seq));
        if (suppress.length > 0) {
          masked.set(logits);
          for (const id of suppress) masked[id] = -Infinity;
          logits = masked;
        }
        opts.onLogits?.(logits);
        const next = sampleToken(logits, gen, opts);
        seq.push(next);
        yield next;
        if (next === opts.eosId) break;
      }
    } finally {
      model.train(wasTraining);
    }
  })();
}

/**
 * Check `suppressIds` and drop `eosId` from it.
 * @throws Error naming the option for an id that is not an integer in [0, V), or when every
 *   token would be suppressed.
 */
export function suppressedIds(ids: readonly number[], V: number, eosId?: number): number[] {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= V)
      throw new Error(`generate: suppressIds holds ${id}, not a token id in [0, ${V})`);
  }
  const out = [...new Set(ids)].filter((id) => id !== eosId);
  if (out.length >= V) throw new Error(`generate: suppressIds suppresses all ${V} tokens`);
  return out;
}
