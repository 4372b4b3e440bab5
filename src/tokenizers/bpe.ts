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

import { BpeModel, MAX_VOCAB, MAX_WORD, pairKey } from './models.js';
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
 * Special-token strings in the texts are not counted. Pre-tokens longer than MAX_WORD bytes
 * are learnt (and encoded) as pieces of MAX_WORD bytes, so a long line without spaces costs
 * what ordinary words do rather than one giant word rewritten by every merge.
 * @param texts training corpus, any iterable of strings (e.g. data/textstream.ts chunks).
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
  const counts = countWords(texts, null, BYTE_LEVEL, MAX_WORD);
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
 *
 * Memory is what limits this loop on a real corpus, so its state lives in typed arrays rather
 * than in Maps and Sets of numbers (a pair key a * 2^21 + b above 2^30 is a boxed heap number,
 * and a Set costs ~50 bytes per entry): all words in one Int32Array, rewritten in place by a
 * merge; pairs interned to dense indices (PairTable); per pair the words that contain it as
 * linked lists in typed arrays (WordLists), whose nodes are reused once the pair is merged.
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
  // Word w is sym[start[w] .. start[w] + len[w]); a merge shortens it in place.
  const nWords = wordCounts.size;
  let room = 0;
  for (const w of wordCounts.keys()) room += w.length; // UTF-16 units >= symbols
  const sym = new Int32Array(room);
  const start = new Int32Array(nWords);
  const len = new Int32Array(nWords);
  const freq = new Float64Array(nWords);
  let nSym = 0;
  let wi = 0;
  for (const [w, c] of wordCounts) {
    start[wi] = nSym;
    for (const ch of w) sym[nSym++] = vocab.get(ch)!;
    len[wi] = nSym - start[wi];
    freq[wi++] = c;
  }

  const pairs = new PairTable();
  const lists = new WordLists();
  for (let w = 0; w < nWords; w++) {
    for (let i = start[w], end = i + len[w] - 1; i < end; i++) {
      lists.add(pairs.add(sym[i], sym[i + 1], freq[w]), w);
    }
  }
  const heap = new PairHeap();
  for (let p = 0; p < pairs.size; p++) heap.push(pairs.count[p], pairs.key(p));

  // Stamps of the current merge: words already rewritten, pairs already in `touched`.
  const seenWord = new Int32Array(nWords);
  let stamp = 0;
  const touched: number[] = [];
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize && heap.size > 0) {
    const c = heap.topCount();
    const k = heap.topKey();
    heap.pop();
    const a = Math.floor(k / MAX_VOCAB);
    const b = k - a * MAX_VOCAB;
    const p = pairs.find(a, b);
    const cur = pairs.count[p];
    if (cur !== c) {
      if (cur > 0) heap.push(cur, k); // stale entry: counts of old pairs only go down
      continue;
    }
    if (c < minFrequency) break;
    const merged = tokens[a] + tokens[b];
    let id = vocab.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      vocab.set(merged, id);
    }
    merges.push([tokens[a], tokens[b]]);

    stamp++;
    touched.length = 0;
    let last = -1;
    for (let node = lists.first(p); node !== -1; node = lists.next[node]) {
      last = node;
      const w = lists.word[node];
      if (seenWord[w] === stamp) continue; // a word can be listed twice (reused token ids)
      seenWord[w] = stamp;
      // Merge left to right in place (out <= i), updating only the counts that change: at each
      // occurrence (prev, a, b, next) -> (prev, id, next). `prev` is read from the output, so
      // for "a b a b" the (id, a) counted at the first occurrence is taken back at the second.
      const s = start[w];
      const end = s + len[w];
      const f = freq[w];
      let out = s;
      for (let i = s; i < end;) {
        if (i + 1 < end && sym[i] === a && sym[i + 1] === b) {
          if (out > s) {
            const prev = sym[out - 1];
            pairs.add(prev, id, f);
            pairs.add(prev, a, -f);
          }
          if (i + 2 < end) {
            const next = sym[i + 2];
            pairs.add(id, next, f);
            pairs.add(b, next, -f);
          }
          sym[out++] = id;
          i += 2;
        } else sym[out++] = sym[i++];
      }
      if (out === end) continue; // the pair was not (or no longer) in this word
      len[w] = out - s;
      // The word is now listed under its pairs with the new token, and those pairs are pushed
      // once after this merge: every pair of a rewritten word that contains `id`, also one that
      // was there before (when `id` is a reused token), as the trainer always did.
      for (let i = s; i + 1 < out; i++) {
        if (sym[i] !== id && sym[i + 1] !== id) continue;
        const q = pairs.find(sym[i], sym[i + 1]);
        if (pairs.mark[q] !== stamp) {
          pairs.mark[q] = stamp;
          touched.push(q);
        }
        lists.add(q, w);
      }
    }
    lists.clear(p, last);
    pairs.count[p] = 0;
    // pairs whose count went up all contain the new token; push them once with their count
    for (const q of touched) if (pairs.count[q] > 0) heap.push(pairs.count[q], pairs.key(q));
  }
  return merges;
}

/** Grow a typed array to at least `n` elements (doubling), keeping its contents. */
function grown<T extends Int32Array | Float64Array>(arr: T, n: number, fill = 0): T {
  if (n <= arr.length) return arr;
  const out = new (arr.constructor as new (n: number) => T)(Math.max(n, 2 * arr.length));
  out.set(arr);
  if (fill !== 0) out.fill(fill, arr.length);
  return out;
}

/**
 * The adjacent pairs (left id, right id) seen in training, interned to dense indices 0, 1, ...
 * by open addressing (linear probing) on the two ids, with per-pair arrays. A merged pair keeps
 * its index (count 0); pairs are never removed.
 */
class PairTable {
  size = 0;
  left = new Int32Array(1024);
  right = new Int32Array(1024);
  /** The pair's count over the corpus (word frequencies summed; exact in a double). */
  count = new Float64Array(1024);
  /** For the trainer: the last merge (stamp) whose `touched` holds the pair. */
  mark = new Int32Array(1024);
  private slots = new Int32Array(2048).fill(-1);

  /** Index of (a, b), or -1. */
  find(a: number, b: number): number {
    const mask = this.slots.length - 1;
    for (let h = hashPair(a, b) & mask; ; h = (h + 1) & mask) {
      const p = this.slots[h];
      if (p === -1 || (this.left[p] === a && this.right[p] === b)) return p;
    }
  }

  /**
   * Add `delta` to the count of (a, b), a new pair if not seen yet. (One call: a new pair may
   * replace the arrays, so in `pairs.count[pairs.intern(a, b)] += d` JavaScript would update
   * the old `count` array, read before the index is computed, and the update would be lost.)
   * @returns the pair's index.
   */
  add(a: number, b: number, delta: number): number {
    const mask = this.slots.length - 1;
    let h = hashPair(a, b) & mask;
    for (; ; h = (h + 1) & mask) {
      const p = this.slots[h];
      if (p === -1) break;
      if (this.left[p] === a && this.right[p] === b) {
        this.count[p] += delta;
        return p;
      }
    }
    const p = this.size++;
    if (p === this.left.length) {
      this.left = grown(this.left, p + 1);
      this.right = grown(this.right, p + 1);
      this.count = grown(this.count, p + 1);
      this.mark = grown(this.mark, p + 1);
    }
    this.left[p] = a;
    this.right[p] = b;
    this.count[p] = delta;
    this.slots[h] = p;
    if (2 * this.size > this.slots.length) this.rehash();
    return p;
  }

  /** The heap key of pair p (models.ts' pairKey: orders by left id, then right id). */
  key(p: number): number {
    return pairKey(this.left[p], this.right[p]);
  }

  /** Double the slots, keeping the load factor <= 1/2. */
  private rehash(): void {
    const slots = new Int32Array(2 * this.slots.length).fill(-1);
    const mask = slots.length - 1;
    for (let p = 0; p < this.size; p++) {
      let h = hashPair(this.left[p], this.right[p]) & mask;
      while (slots[h] !== -1) h = (h + 1) & mask;
      slots[h] = p;
    }
    this.slots = slots;
  }
}

/** A 32-bit mix of two ids (murmur3's finalizer). */
function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Singly linked lists of word indices, one per pair index, in typed arrays: a node costs 8 bytes
 * where a Set entry costs ~50. The list of a pair holds every word that contains it (and may
 * hold words that no longer do); a merged pair's nodes go on a free list for the lists of the
 * pairs that come after.
 */
class WordLists {
  /** Node -> word index, node -> next node of its list (-1 at the end). */
  word = new Int32Array(1 << 16);
  next = new Int32Array(1 << 16);
  /** Pair -> first node, -1 for an empty list. */
  private head = new Int32Array(1024).fill(-1);
  private used = 0;
  private freeHead = -1;

  /** First node of the list of pair p, -1 if empty. */
  first(p: number): number {
    return p < this.head.length ? this.head[p] : -1;
  }

  /** Put word w on the list of pair p, unless it is at its front already. */
  add(p: number, w: number): void {
    if (p >= this.head.length) this.head = grown(this.head, p + 1, -1);
    const first = this.head[p];
    if (first !== -1 && this.word[first] === w) return;
    let node = this.freeHead;
    if (node !== -1) this.freeHead = this.next[node];
    else {
      node = this.used++;
      if (node === this.word.length) {
        this.word = grown(this.word, node + 1);
        this.next = grown(this.next, node + 1);
      }
    }
    this.word[node] = w;
    this.next[node] = first;
    this.head[p] = node;
  }

  /** Empty the list of pair p, given its last node, and recycle its nodes. */
  clear(p: number, last: number): void {
    const first = this.first(p);
    if (first === -1) return;
    this.next[last] = this.freeHead;
    this.freeHead = first;
    this.head[p] = -1;
  }
}

/**
 * Max-heap of (count, pair key): higher count first, then smaller key (smaller left, right).
 * Entries are never removed but by pop; a stale one is recognised by its count.
 */
class PairHeap {
  private c = new Float64Array(1024);
  private k = new Float64Array(1024);
  size = 0;

  topCount(): number {
    return this.c[0];
  }

  topKey(): number {
    return this.k[0];
  }

  push(count: number, key: number): void {
    if (this.size === this.c.length) {
      this.c = grown(this.c, this.size + 1);
      this.k = grown(this.k, this.size + 1);
    }
    const { c, k } = this;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!(count > c[p] || (count === c[p] && key < k[p]))) break;
      c[i] = c[p];
      k[i] = k[p];
      i = p;
    }
    c[i] = count;
    k[i] = key;
  }

  /** Remove the top entry. */
  pop(): void {
    const { c, k } = this;
    const n = --this.size;
    const count = c[n];
    const key = k[n];
    let i = 0;
    for (;;) {
      let m = 2 * i + 1;
      if (m >= n) break;
      if (m + 1 < n && (c[m + 1] > c[m] || (c[m + 1] === c[m] && k[m + 1] < k[m]))) m++;
      if (!(c[m] > count || (c[m] === count && k[m] < key))) break;
      c[i] = c[m];
      k[i] = k[m];
      i = m;
    }
    c[i] = count;
    k[i] = key;
  }
}
