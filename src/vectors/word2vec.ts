/**
 * Word2Vec (Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector
 * Space"; 2013b, "Distributed Representations of Words and Phrases"): CBOW and Skip-gram
 * with negative sampling, frequent-word subsampling and a linearly decaying learning rate,
 * with word2vec.c's defaults. The training loop is a backend kernel (`word2vecTrain`: the
 * js specification in src/backend/js-word2vec.ts, multi-threaded C in native/word2vec.c);
 * this file prepares its inputs: the vocabulary, the corpus as ids, the subsampling
 * probabilities and the negative-sampling table.
 *
 * Tokens are white-space separated (as word2vec.c and fastText read text); a line break ends
 * a sentence (windows do not cross it).
 *
 * Shape letters: V vocabulary, D vector width, N corpus tokens.
 */
import { backend } from '../backend/index.js';
import { Generator } from '../random.js';
import { WordVectors } from './word-vectors.js';
import { compareCodePoints } from '../tokenizers/counting.js';

/** A corpus read for word-vector training. */
export interface WordCorpus {
  /** Words by count, descending (ties in code point order). */
  readonly words: readonly string[];
  readonly counts: readonly number[];
  /** (N) word ids; -1 at each line break; words below minCount are dropped. */
  readonly ids: Int32Array;
  /** Words kept (without the breaks). */
  readonly tokens: number;
}

export interface CorpusOptions {
  /** Drop words seen fewer times (word2vec.c's -min-count). Default 5. */
  minCount?: number;
  /** Lowercase first. Default false (word2vec.c and fastText do not). */
  lowercase?: boolean;
}

/**
 * Read a text into a word corpus.
 * @throws Error if no word reaches minCount.
 */
export function buildWordCorpus(text: string, o: CorpusOptions = {}): WordCorpus {
  const minCount = o.minCount ?? 5;
  if (!Number.isInteger(minCount) || minCount < 1)
    throw new Error(`word vectors: minCount must be an integer >= 1, got ${minCount}`);
  const src = o.lowercase ? text.toLowerCase() : text;
  const lines = src.split('\n');
  const counts = new Map<string, number>();
  for (const line of lines)
    for (const w of line.split(/\s+/u)) if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts.keys()]
    .filter((w) => counts.get(w)! >= minCount)
    .sort((a, b) => counts.get(b)! - counts.get(a)! || compareCodePoints(a, b));
  if (words.length === 0)
    throw new Error(`word vectors: no word occurs at least minCount=${minCount} times`);
  const index = new Map(words.map((w, i) => [w, i]));
  const ids: number[] = [];
  let tokens = 0;
  for (const line of lines) {
    for (const w of line.split(/\s+/u)) {
      const id = w ? index.get(w) : undefined;
      if (id !== undefined) {
        ids.push(id);
        tokens++;
      }
    }
    if (ids.length > 0 && ids[ids.length - 1] !== -1) ids.push(-1);
  }
  return { words, counts: words.map((w) => counts.get(w)!), ids: Int32Array.from(ids), tokens };
}

/**
 * word2vec.c's subsampling: a word of frequency f = count / tokens is kept with probability
 * (sqrt(f / t) + 1) t / f (1 or more: always kept), t the `sample` threshold; 0 disables it.
 * @returns (V) keep probabilities.
 */
export function subsamplingKeep(c: WordCorpus, sample: number): Float32Array {
  return Float32Array.from(c.counts, (n) => {
    if (sample <= 0) return 1;
    const t = sample * c.tokens;
    return (Math.sqrt(n / t) + 1) * (t / n);
  });
}

/**
 * The negative-sampling table (Mikolov et al. 2013b, Sec. 2.2): word ids in proportion to
 * count^0.75, `size` entries (word2vec.c uses 1e8; here min(1e7, 1000 V) by default).
 */
export function unigramTable(counts: readonly number[], size?: number): Int32Array {
  const n = size ?? Math.min(1e7, Math.max(1000, 1000 * counts.length));
  const pow = counts.map((c) => Math.pow(c, 0.75));
  const total = pow.reduce((a, b) => a + b, 0);
  const table = new Int32Array(n);
  let w = 0;
  let acc = pow[0] / total;
  for (let i = 0; i < n; i++) {
    table[i] = w;
    if ((i + 1) / n > acc && w < counts.length - 1) acc += pow[++w] / total;
  }
  return table;
}

export interface Word2VecOptions extends CorpusOptions {
  /** 'skipgram' (default) or 'cbow'. */
  model?: 'skipgram' | 'cbow';
  /** D. Default 100. */
  dim?: number;
  /** Largest window each side. Default 5. */
  window?: number;
  /** Negative samples. Default 5. */
  negative?: number;
  /** Subsampling threshold t. Default 1e-3 (word2vec.c); 0 disables. */
  sample?: number;
  /** Passes over the corpus. Default 5. */
  epochs?: number;
  /** Starting learning rate. Default 0.025 (Skip-gram) or 0.05 (CBOW), word2vec.c's. */
  alpha?: number;
  seed?: number;
}

/** What one training run did. */
export interface Word2VecResult {
  vectors: WordVectors;
  /** Positions trained (after subsampling) over all epochs, and the seconds it took. */
  trained: number;
  seconds: number;
}

/**
 * Train word vectors on a text: syn0 starts uniform in [-0.5/D, 0.5/D), syn1 at zero, as in
 * word2vec.c; the input vectors syn0 are the result.
 * @throws Error naming an option out of range, or as buildWordCorpus.
 */
export function trainWord2Vec(corpus: WordCorpus, o: Word2VecOptions = {}): Word2VecResult {
  const cbow = (o.model ?? 'skipgram') === 'cbow';
  if (o.model !== undefined && o.model !== 'skipgram' && o.model !== 'cbow')
    throw new Error(`word2vec: model must be 'skipgram' or 'cbow', got '${String(o.model)}'`);
  const D = o.dim ?? 100;
  const params = {
    dim: D,
    window: o.window ?? 5,
    negative: o.negative ?? 5,
    epochs: o.epochs ?? 5,
    alpha: o.alpha ?? (cbow ? 0.05 : 0.025),
    cbow,
    seed: (o.seed ?? 1) >>> 0,
  };
  for (const k of ['dim', 'window', 'epochs'] as const)
    if (!Number.isInteger(params[k]) || params[k] < 1)
      throw new Error(`word2vec: ${k} must be an integer >= 1, got ${params[k]}`);
  if (!Number.isInteger(params.negative) || params.negative < 1)
    throw new Error(`word2vec: negative must be an integer >= 1, got ${params.negative}`);
  if (!(params.alpha > 0)) throw new Error(`word2vec: alpha must be > 0, got ${params.alpha}`);
  const V = corpus.words.length;
  const g = new Generator(params.seed);
  const syn0 = Float32Array.from({ length: V * D }, () => (g.uniform() - 0.5) / D);
  const syn1 = new Float32Array(V * D);
  const keep = subsamplingKeep(corpus, o.sample ?? 1e-3);
  const table = unigramTable(corpus.counts);
  const t0 = performance.now();
  const trained = backend().word2vecTrain(syn0, syn1, corpus.ids, keep, table, params);
  const seconds = (performance.now() - t0) / 1000;
  return { vectors: new WordVectors(corpus.words, syn0, D), trained, seconds };
}
