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
}

/**
 * Continue `prompt` with up to maxNewTokens tokens.
 * @param prompt token ids (at least one)
 * @returns the new tokens only
 * @throws Error if the prompt is empty, or `suppressIds` holds an id outside [0, V) or every id.
 */
export function generate(
  lm: DecoderLM,
  prompt: readonly number[],
  opts: GenerateOptions,
): number[] {
  if (prompt.length === 0) throw new Error('generate: the prompt must contain at least one token');
  const gen = opts.generator ?? defaultGenerator;
  const T = lm.config.blockSize;
  const V = lm.config.vocabSize;
  const useCache = opts.useCache ?? true;
  const suppress = suppressedIds(opts.suppressIds ?? [], V, opts.eosId);
  const masked = new Float32Array(V); // (V) the logits with suppressed ids at -Infinity
  const seq = [...prompt];
  const out: number[] = [];
  const wasTraining = lm.training;
  lm.eval();
  try {
    noGrad(() => {
      let caches = lm.newCaches();
      let cached = 0; // positions in the cache
      let start = 0; // index in seq of the cache's first position
      for (let n = 0; n < opts.maxNewTokens; n++) {
        let logits: Float32Array;
        if (!useCache || seq.length - start > T || cached === 0) {
          start = Math.max(0, seq.length - T);
          const window = seq.slice(start);
          caches = lm.newCaches();
          const y = lm.forward(
            tensor([window], undefined, 'int32'),
            useCache ? caches : undefined,
            0,
          );
          cached = window.length;
          logits = y.f32.subarray((window.length - 1) * V, window.length * V);
        } else {
          const y = lm.forward(tensor([[seq[seq.length - 1]]], undefined, 'int32'), caches, cached);
          cached++;
          logits = y.f32;
        }
        if (suppress.length > 0) {
          masked.set(logits);
          for (const id of suppress) masked[id] = -Infinity;
          logits = masked;
        }
        const next = sampleToken(logits, gen, opts);
        seq.push(next);
        out.push(next);
        opts.onToken?.(next);
        if (next === opts.eosId) break;
        // Slide the window: rebuild the cache when the next step would exceed the context.
        if (useCache && cached + 1 > T) cached = 0;
      }
    });
  } finally {
    lm.train(wasTraining);
  }
  return out;
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
