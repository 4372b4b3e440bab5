/**
 * Tokenizer models: map one pre-tokenized word to token ids.
 *   BPE (Sennrich et al., 2016, "Neural Machine Translation of Rare Words with Subword Units",
 *   Sec. 3.2): split the word into characters, then repeatedly apply the merge with the lowest
 *   rank among adjacent pairs (leftmost first on equal rank), as in GPT-2's `encoder.py` and HF
 *   `tokenizers` `BPE::merge_word`. With no merges it is a character-level model.
 *   WordLevel: look the whole word up, else the unknown token (HF `WordLevel`).
 */

/** Largest vocabulary the BPE pair keys can address. */
export const MAX_VOCAB = 1 << 21;

/**
 * Longest word (pre-token, in UTF-16 code units: bytes for byte-level BPE) that a BPE model with
 * merges encodes whole; a longer word is encoded as consecutive pieces of this length. Bounds
 * the cost of one word: a 10 MB line without spaces would otherwise be one word, rewritten by
 * every merge in training and held as a heap of per-pair arrays in encoding. HF `tokenizers`
 * has no such limit, so our ids differ from HF's only inside words longer than this (1 KiB: 341
 * CJK characters, or 1024 ASCII letters, without a space or punctuation). Measured: BPE to 4000
 * tokens on one 1 MB line of random letters takes 14 s with this cap (10 s with a cap of 100),
 * as long as on 1 MB of random short words (8 s).
 */
export const MAX_WORD = 1024;

/**
 * Cut a word into pieces of at most `max` UTF-16 code units, never inside a surrogate pair.
 * @returns the pieces, in order (the word itself if it is short enough).
 */
export function splitLongWord(word: string, max: number = MAX_WORD): string[] {
  if (word.length <= max) return [word];
  const out: string[] = [];
  for (let i = 0; i < word.length;) {
    let end = Math.min(i + max, word.length);
    const c = word.charCodeAt(end - 1);
    if (end < word.length && c >= 0xd800 && c <= 0xdbff && end - 1 > i) end--; // keep the pair
    out.push(word.slice(i, end));
    i = end;
  }
  return out;
}

/** Pack a pair of token ids into one number key (exact: < 2^42). */
export function pairKey(a: number, b: number): number {
  return a * MAX_VOCAB + b;
}

/** Options of the BPE model, named after HF's JSON fields. */
export interface BpeModelOptions {
  /** Token for characters missing from the vocabulary; null drops them (as HF does). */
  unkToken: string | null;
  /** Fuse consecutive unknown tokens into one (HF `fuse_unk`). Default false. */
  fuseUnk?: boolean;
  /** Emit a word that is itself in the vocabulary without merging (HF `ignore_merges`). */
  ignoreMerges?: boolean;
}

const CACHE_CAPACITY = 10_000;
const CACHE_MAX_WORD = 256;

/** A BPE model: vocabulary plus ranked merges. */
export class BpeModel {
  readonly type = 'BPE' as const;
  readonly vocab: ReadonlyMap<string, number>;
  readonly merges: ReadonlyArray<readonly [string, string]>;
  readonly unkToken: string | null;
  readonly fuseUnk: boolean;
  readonly ignoreMerges: boolean;
  private readonly ranks = new Map<number, { rank: number; id: number }>();
  private readonly cache = new Map<string, number[]>();

  /**
   * @param vocab token -> id.
   * @param merges ranked merges, rank = index; each (a, b) needs a, b and a+b in the vocab.
   * @throws Error if a merge names a token missing from the vocabulary, or the unknown token is
   *   not in the vocabulary.
   */
  constructor(
    vocab: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    opts: BpeModelOptions,
  ) {
    this.vocab = vocab;
    this.merges = merges;
    this.unkToken = opts.unkToken;
    this.fuseUnk = opts.fuseUnk ?? false;
    this.ignoreMerges = opts.ignoreMerges ?? false;
    if (this.unkToken !== null && !vocab.has(this.unkToken)) {
      throw new Error(`BPE: unk_token '${this.unkToken}' is not in the vocabulary`);
    }
    merges.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const id = vocab.get(a + b);
      if (ia === undefined || ib === undefined || id === undefined) {
        throw new Error(`BPE: merge #${rank} '${a} ${b}' uses a token missing from the vocabulary`);
      }
      const k = pairKey(ia, ib);
      if (!this.ranks.has(k)) this.ranks.set(k, { rank, id });
    });
  }

  /**
   * Encode one word.
   * @param word a pre-token (byte-level form for byte-level BPE).
   * @param onUnknown called with each character missing from the vocabulary.
   * @returns token ids.
   */
  tokenize(word: string, onUnknown?: (piece: string) => void): number[] {
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) return [id];
    }
    if (word.length > MAX_WORD && this.merges.length > 0) {
      const ids: number[] = [];
      for (const piece of splitLongWord(word)) {
        for (const id of this.tokenize(piece, onUnknown)) ids.push(id);
      }
      return ids;
    }
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached; // only words without unknown characters are cached
    let unknown = false;
    const ids = this.mergeWord(word, (ch) => {
      unknown = true;
      onUnknown?.(ch);
    });
    if (!unknown && this.merges.length > 0 && word.length <= CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_CAPACITY) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  private mergeWord(word: string, onUnknown: (ch: string) => void): number[] {
    const sym: number[] = [];
    const unkId = this.unkToken === null ? undefined : this.vocab.get(this.unkToken);
    let lastUnk = false;
    for (const ch of word) {
      const id = this.vocab.get(ch);
      if (id !== undefined) {
        sym.push(id);
        lastUnk = false;
      } else {
        onUnknown(ch);
        if (unkId !== undefined) {
          if (!(this.fuseUnk && lastUnk)) sym.push(unkId);
          lastUnk = true;
        }
      }
    }
    if (sym.length < 2 || this.ranks.size === 0) return sym;
    return this.applyMerges(sym);
  }

  /** Lowest-rank-first merging with a heap, O(n log n) per word (HF `Word::merge_all`). */
  private applyMerges(sym: number[]): number[] {
    const n = sym.length;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // heap entries: [rank, pos, leftId, rightId]; ordered by (rank, pos)
    const heap: number[][] = [];
    const push = (pos: number): void => {
      const j = next[pos];
      if (j < 0) return;
      const r = this.ranks.get(pairKey(sym[pos], sym[j]));
      if (r !== undefined) heapPush(heap, [r.rank, pos, sym[pos], sym[j]]);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (heap.length > 0) {
      const [, pos, a, b] = heapPop(heap);
      const j = next[pos];
      if (!alive[pos] || j < 0 || sym[pos] !== a || sym[j] !== b) continue; // stale entry
      sym[pos] = this.ranks.get(pairKey(a, b))!.id;
      alive[j] = 0;
      next[pos] = next[j];
      if (next[j] >= 0) prev[next[j]] = pos;
      if (prev[pos] >= 0) push(prev[pos]);
      push(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }
}

function less(x: number[], y: number[]): boolean {
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
}

function heapPush(h: number[][], e: number[]): void {
  h.push(e);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(h[i], h[p])) break;
    [h[i], h[p]] = [h[p], h[i]];
    i = p;
  }
}

function heapPop(h: number[][]): number[] {
  const top = h[0];
  const last = h.pop()!;
  if (h.length > 0) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l], h[m])) m = l;
      if (r < h.length && less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
  return top;
}

/** A word-level model: whole words, else the unknown token (HF `WordLevel`). */
export class WordLevelModel {
  readonly type = 'WordLevel' as const;
  readonly vocab: ReadonlyMap<string, number>;
  readonly unkToken: string;
  private readonly unkId: number;

  /**
   * @param vocab word -> id.
   * @param unkToken token for words missing from the vocabulary.
   * @throws Error if `unkToken` is not in the vocabulary.
   */
  constructor(vocab: ReadonlyMap<string, number>, unkToken: string) {
    const unkId = vocab.get(unkToken);
    if (unkId === undefined) {
      throw new Error(`WordLevel: unk_token '${unkToken}' is not in the vocabulary`);
    }
    this.vocab = vocab;
    this.unkToken = unkToken;
    this.unkId = unkId;
  }

  /** Encode one word: its id, or the unknown token's id (reporting the word to `onUnknown`). */
  tokenize(word: string, onUnknown?: (piece: string) => void): number[] {
    const id = this.vocab.get(word);
    if (id !== undefined) return [id];
    onUnknown?.(word);
    return [this.unkId];
  }
}

/** Either model. */
export type Model = BpeModel | WordLevelModel;
