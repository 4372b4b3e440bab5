/**
 * Byte-level BPE training (Sennrich et al., 2016, Sec. 3.2, Algorithm 1; byte-level alphabet of
 * GPT-2, Radford et al., 2019, Sec. 2.2), stored as HF `tokenizers` does for GPT-2/RoBERTa:
 * `ByteLevel` pre-tokenizer (GPT-2 regex, add_prefix_space false), `ByteLevel` decoder, BPE
 * model. Every byte is in the vocabulary, so any text encodes without <unk> and decodes exactly.
 *
 * Training counts each distinct word once with its frequency and keeps pair counts up to date
 * incrementally: a merge only revisits the words that contain the merged pair, and a max-heap
 * with lazy deletion finds the next best pair (as HF's `BpeTrainer`).
 */

import { BpeModel, MAX_VOCAB, pairKey } from './models.js';
import { BYTE_TO_CHAR } from './bytelevel.js';
import {
  PipelineTokenizer,
  defaultAddedTokens,
  DEFAULT_SPECIALS,
  PAD,
  BOS,
  EOS,
  UNK,
} from './tokenizer.js';
import { countWords, intOption, checkKeys } from './counting.js';
import type { PreTokenizerSpec, DecoderSpec } from './pipeline.js';

/** Options of trainBPE. */
export interface BpeTrainOptions {
  /** Final vocabulary size: 4 specials + 256 bytes + merges; at least 260. */
  vocabSize: number;
  /** Only merge pairs seen at least this often. Default 2. */
  minFrequency?: number;
}

/** The GPT-2 byte-level pre-tokenizer / decoder specs. */
export const BYTE_LEVEL: PreTokenizerSpec & DecoderSpec = {
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: true,
};

/**
 * Train a byte-level BPE tokenizer. Vocabulary: ids 0..3 <pad> <bos> <eos> <unk>, ids 4..259 the
 * bytes 0..255 (in GPT-2's printable form), then one token per merge in the order learned.
 *
 * Each step merges the adjacent pair with the highest count over the corpus; ties go to the pair
 * with the smaller (left id, right id), i.e. to older tokens — so training is deterministic.
 * Training stops at `vocabSize` or when no pair reaches `minFrequency`. If a merge yields a
 * string that is already a token, that id is reused (as HF's trainer does) and no id is spent.
 * Special-token strings in the texts are not counted.
 * @param texts training corpus.
 * @param opts see BpeTrainOptions.
 * @returns a tokenizer of kind 'bpe'.
 * @throws RangeError / TypeError on invalid or unknown options.
 */
export function trainBPE(texts: Iterable<string>, opts: BpeTrainOptions): PipelineTokenizer {
  checkKeys('trainBPE', opts, ['vocabSize', 'minFrequency']);
  const base = DEFAULT_SPECIALS.length + 256;
  if (opts.vocabSize === undefined) throw new TypeError("trainBPE: option 'vocabSize' is required");
  const vocabSize = intOption('trainBPE', 'vocabSize', opts.vocabSize, base, base);
  if (vocabSize > MAX_VOCAB) throw new RangeError(`trainBPE: vocabSize must be <= ${MAX_VOCAB}`);
  const minFrequency = intOption('trainBPE', 'minFrequency', opts.minFrequency, 2, 1);

  const tokens: string[] = [...DEFAULT_SPECIALS, ...BYTE_TO_CHAR];
  const vocab = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const counts = countWords(texts, null, BYTE_LEVEL);
  const merges = learnMerges(counts, tokens, vocab, vocabSize, minFrequency);

  return new PipelineTokenizer({
    kind: 'bpe',
    normalizer: null,
    preTokenizer: BYTE_LEVEL,
    model: new BpeModel(vocab, merges, { unkToken: UNK }),
    decoder: BYTE_LEVEL,
    postProcessor: null,
    addedTokens: defaultAddedTokens(),
    specials: { pad: PAD, bos: BOS, eos: EOS, unk: UNK },
  });
}

/**
 * The BPE learning loop. `tokens`/`vocab` hold the initial alphabet and grow in place.
 * @param wordCounts word (a string over the alphabet) -> frequency.
 * @returns the merges in rank order.
 */
function learnMerges(
  wordCounts: ReadonlyMap<string, number>,
  tokens: string[],
  vocab: Map<string, number>,
  vocabSize: number,
  minFrequency: number,
): [string, string][] {
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push([...w].map((ch) => vocab.get(ch)!));
    freq.push(c);
  }
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>(); // pair -> indices of words that may contain it
  const addPairs = (wi: number, sign: number, touched: Set<number> | null): void => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i], w[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let s = where.get(k);
        if (s === undefined) where.set(k, (s = new Set()));
        s.add(wi);
        touched?.add(k);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1, null);

  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  const merges: [string, string][] = [];
  while (tokens.length < vocabSize && heap.size > 0) {
    const [c, k] = heap.pop();
    const cur = pairCount.get(k) ?? 0;
    if (cur !== c) {
      if (cur > 0) heap.push(cur, k); // stale entry: counts of old pairs only go down
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(k / MAX_VOCAB);
    const b = k - a * MAX_VOCAB;
    const merged = tokens[a] + tokens[b];
    let id = vocab.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      vocab.set(merged, id);
    }
    merges.push([tokens[a], tokens[b]]);
    const touched = new Set<number>();
    for (const wi of where.get(k) ?? []) {
      const w = words[wi];
      let has = false;
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(wi, -1, null);
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w[i]);
      }
      words[wi] = out;
      addPairs(wi, 1, touched);
    }
    where.delete(k);
    pairCount.delete(k);
    // pairs whose count went up all contain the new token; push them once with their count
    for (const t of touched) {
      const tc = pairCount.get(t)!;
      if (tc > 0 && (Math.floor(t / MAX_VOCAB) === id || t % MAX_VOCAB === id)) heap.push(tc, t);
    }
  }
  return merges;
}

/** Max-heap of (count, pair key): higher count first, then smaller key (smaller left, right). */
class PairHeap {
  private readonly c: number[] = [];
  private readonly k: number[] = [];

  get size(): number {
    return this.c.length;
  }

  private before(i: number, j: number): boolean {
    return this.c[i] > this.c[j] || (this.c[i] === this.c[j] && this.k[i] < this.k[j]);
  }

  private swap(i: number, j: number): void {
    [this.c[i], this.c[j]] = [this.c[j], this.c[i]];
    [this.k[i], this.k[j]] = [this.k[j], this.k[i]];
  }

  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    let i = this.c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.c[0], this.k[0]];
    const lc = this.c.pop()!;
    const lk = this.k.pop()!;
    if (this.c.length > 0) {
      this.c[0] = lc;
      this.k[0] = lk;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.c.length && this.before(l, m)) m = l;
        if (r < this.c.length && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}
