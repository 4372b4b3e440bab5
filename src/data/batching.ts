/**
 * Batches: indices grouped by similar length under a token budget (fairseq's
 * `batch_by_size`, tensor2tensor's length buckets), and padded int32 id tensors for the
 * seq2seq, language-model and classification tasks.
 *
 * Shapes: B batch, S source length, T target (or context) length, L classifier input length.
 */
import { Generator } from '../random.js';
import { Tensor, zeros } from '../tensor.js';

/** Options for {@link bucketBatches}. */
export interface BucketOptions {
  /** Budget of padded tokens per batch: (longest length in the batch) x (batch size). */
  batchTokens: number;
  /** At most this many examples per batch. Default unlimited. */
  maxBatchSize?: number;
  /** Shuffle the order of the batches (not their contents). Default false. */
  shuffle?: boolean;
  /** The generator for `shuffle` (required when shuffling, so the order is reproducible). */
  generator?: Generator;
}

function checkPositiveInt(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: ${name}=${v} must be an integer >= 1`);
}

/**
 * Group example indices into batches of similar length (Ott et al. 2018, fairseq
 * `batch_by_size`): sort indices by length (ties by index, so stable), cut the sorted list
 * greedily into batches whose padded size max(length) x count stays <= `batchTokens` (and
 * count <= `maxBatchSize`), then shuffle the order of the batches with `generator`.
 * An example longer than `batchTokens` forms a batch by itself. Every index appears in exactly
 * one batch; within a batch indices are in ascending length. Deterministic for a given
 * generator state.
 * @param lengths the length of each example in tokens (what its padded row will cost).
 * @returns batches of indices into `lengths`.
 * @throws Error naming the option if `batchTokens` or `maxBatchSize` is not a positive
 *   integer, a length is not a non-negative integer, or `shuffle` lacks a `generator`.
 */
export function bucketBatches(lengths: readonly number[], options: BucketOptions): number[][] {
  const where = 'bucketBatches';
  const { batchTokens, maxBatchSize = Infinity, shuffle = false, generator } = options;
  checkPositiveInt(where, 'batchTokens', batchTokens);
  if (maxBatchSize !== Infinity) checkPositiveInt(where, 'maxBatchSize', maxBatchSize);
  if (shuffle && !generator) throw new Error(`${where}: shuffle=true needs a generator`);
  lengths.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0) {
      throw new Error(`${where}: lengths[${i}]=${l} must be a non-negative integer`);
    }
  });
  const order = Array.from(lengths, (_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    // Sorted ascending, so lengths[i] is the new maximum of the batch.
    const n = cur.length + 1;
    if (cur.length > 0 && (n * lengths[i] > batchTokens || n > maxBatchSize)) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length > 0) batches.push(cur);
  if (shuffle) generator!.shuffle(batches);
  return batches;
}

/**
 * Epoch `epoch`'s (0-based) training batches: bucketBatches with the order shuffled by a
 * generator seeded from (seed, epoch), a pure function of its arguments, so a resumed run
 * (and `transformer export`'s batches) see the same batches.
 * @param lengths the padded cost of each example in tokens.
 */
export function epochBatches(
  lengths: readonly number[],
  batchTokens: number,
  seed: number,
  epoch: number,
): number[][] {
  return bucketBatches(lengths, {
    batchTokens,
    shuffle: true,
    generator: new Generator(seed * 7919 + epoch),
  });
}

/**
 * Right-pad sequences of token ids into one tensor.
 * @param seqs B sequences of ids (B >= 1).
 * @param padId the id written after each sequence's end.
 * @returns (B, Lmax) int32, Lmax the longest sequence's length.
 * @throws Error if `seqs` is empty.
 */
export function padBatch(seqs: readonly (readonly number[])[], padId: number): Tensor {
  if (seqs.length === 0) throw new Error('padBatch: no sequences');
  const L = Math.max(...seqs.map((s) => s.length));
  const out = zeros([seqs.length, L], 'int32'); // (B, Lmax)
  const d = out.i32;
  d.fill(padId);
  seqs.forEach((s, b) => d.set(s, b * L));
  return out;
}

/** Special ids for {@link makeSeq2SeqBatch}. */
export interface Seq2SeqIds {
  padId: number;
  bosId: number;
  eosId: number;
}

/** A teacher-forcing batch for an encoder-decoder model. */
export interface Seq2SeqBatch {
  /** (B, S) int32 source ids, padded with padId. */
  src: Tensor;
  /** (B, T) int32 decoder inputs `[bos, y1..yn]`, padded with padId. */
  tgtIn: Tensor;
  /** (B, T) int32 labels `[y1..yn, eos]` (tgtIn shifted left), padded with padId. */
  tgtOut: Tensor;
  /** Number of non-pad labels in tgtOut (sum of target lengths + 1 each): the loss divisor. */
  ntokens: number;
}

/**
 * Build a teacher-forcing batch (Vaswani et al. 2017, Sec. 3; the Annotated Transformer's
 * `Batch`): the decoder reads `[bos, y...]` and predicts `[y..., eos]`, so tgtOut is tgtIn
 * shifted left by one. The source is used as given (no bos/eos added). The loss should ignore
 * padId.
 * @param pairs B examples of source and target ids (targets may be empty: tgtIn = [bos]).
 * @returns src (B, S), tgtIn (B, T), tgtOut (B, T) int32, T = longest target + 1.
 * @throws Error if `pairs` is empty.
 */
export function makeSeq2SeqBatch(
  pairs: readonly { src: readonly number[]; tgt: readonly number[] }[],
  ids: Seq2SeqIds,
): Seq2SeqBatch {
  if (pairs.length === 0) throw new Error('makeSeq2SeqBatch: no pairs');
  return {
    src: padBatch(
      pairs.map((p) => p.src),
      ids.padId,
    ), // (B, S)
    tgtIn: padBatch(
      pairs.map((p) => [ids.bosId, ...p.tgt]),
      ids.padId,
    ), // (B, T)
    tgtOut: padBatch(
      pairs.map((p) => [...p.tgt, ids.eosId]),
      ids.padId,
    ), // (B, T)
    ntokens: pairs.reduce((n, p) => n + p.tgt.length + 1, 0),
  };
}

/** Options for {@link makeLMBatch}. */
export interface LMBatchOptions {
  /** B, windows per batch. */
  batchSize: number;
  /** T, context length. */
  blockSize: number;
  /** Draws the window starts. */
  generator: Generator;
}

/**
 * Sample B random windows from a token stream for next-token prediction (nanoGPT
 * `get_batch`): starts uniform in [0, N - T), x = tokens[s, s + T), y = tokens[s + 1, s + T + 1).
 * @param tokens the whole tokenized text, N ids.
 * @returns x (B, T) and y (B, T) int32.
 * @throws Error if N < T + 1 or a size is not a positive integer.
 */
export function makeLMBatch(
  tokens: ArrayLike<number>,
  options: LMBatchOptions,
): { x: Tensor; y: Tensor } {
  const { batchSize: B, blockSize: T, generator } = options;
  checkPositiveInt('makeLMBatch', 'batchSize', B);
  checkPositiveInt('makeLMBatch', 'blockSize', T);
  const N = tokens.length;
  if (N < T + 1) {
    throw new Error(`makeLMBatch: ${N} tokens is too few for blockSize=${T} (needs ${T + 1})`);
  }
  const x = zeros([B, T], 'int32'); // (B, T)
  const y = zeros([B, T], 'int32'); // (B, T)
  const xd = x.i32;
  const yd = y.i32;
  for (let b = 0; b < B; b++) {
    const s = generator.randint(N - T);
    for (let t = 0; t < T; t++) {
      xd[b * T + t] = tokens[s + t];
      yd[b * T + t] = tokens[s + t + 1];
    }
  }
  return { x, y };
}

/** Options for {@link makeClassificationBatch}. */
export interface ClassificationBatchOptions {
  padId: number;
  /** Prepended to every text as the [CLS] position (BERT, Devlin et al. 2019, Sec. 3). */
  bosId: number;
  /** Maximum row length including the <bos>; longer texts are truncated. */
  maxLen: number;
}

/**
 * Build classifier inputs: `[bos, ids...]` per text, the ids cut to `maxLen - 1`, padded.
 * Labels are not part of the input; make them with `tensor(Int32Array.from(ys), [B])`.
 * @param texts B tokenized texts.
 * @returns (B, L) int32, L = min(maxLen, longest text + 1).
 * @throws Error if `texts` is empty or `maxLen` < 1.
 */
export function makeClassificationBatch(
  texts: readonly (readonly number[])[],
  options: ClassificationBatchOptions,
): Tensor {
  if (texts.length === 0) throw new Error('makeClassificationBatch: no texts');
  checkPositiveInt('makeClassificationBatch', 'maxLen', options.maxLen);
  const rows = texts.map((ids) => [options.bosId, ...ids.slice(0, options.maxLen - 1)]);
  return padBatch(rows, options.padId); // (B, L)
}
