/**
 * Position-based sparse attention, computed sparsely (Lin et al. 2021, Sec. 4.1.1: atomic
 * patterns Fig. 4, compound Fig. 5, extended Fig. 6): each query attends a fixed set of key
 * positions that depends only on positions, never on content, so one pattern (built once
 * per length and cached) serves every batch row and head. The core runs the sparse
 * attention op (F.sparseMultiHeadAttention), which computes only the pattern's scores:
 * time O(T w D) and memory O(T w) for w keys per query, never a T x T matrix.
 *
 * A pattern whose keys are scattered in position order but contiguous in another (strided
 * attention's column, axial attention's grid column) may also give a `PatternSplit`: parts,
 * each run in its own order of the positions where its rows share their keys, merged into
 * one softmax by their log-sum-exps (F.sparseMultiHeadAttentionParts).
 *
 * A pattern is a `RowKeys` function: the keys of the query at position i in a sequence of
 * L positions. Causal use keeps the keys <= i. The rule that makes cached decoding equal
 * uncached decoding: in causal mode, the keys of row i must not depend on L (only on i and
 * the parameters); every pattern here is written so (blocks, grids and strides are anchored
 * at position 0, random draws are seeded by the row).
 *
 * Shape letters: B batch, H heads, T query length, L sequence length (keys), D head width,
 * w keys per query, nnz the pattern's entries.
 */
import { Tensor, full } from '../tensor.js';
import * as F from '../ops/index.js';
import type { SparsePattern } from '../ops/sparse.js';
import type { VariantParam } from './spec.js';
import type { AttentionVariant } from './registry.js';
import {
  mergeHeads,
  packedHeads,
  runOptions,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { attention } from './reference.js';
import { KVAttentionCore, type KVState } from './state.js';

/**
 * The keys of the query at position i among positions [0, L): pushed onto `out` in any
 * order, repeats and positions outside [0, L) allowed (the builder drops them, and the
 * keys > i when causal). In causal mode the keys <= i must not depend on L.
 */
export type RowKeys = (i: number, L: number, causal: boolean, out: number[]) => void;

/**
 * The order in which the kernel should visit the queries of a sequence of L positions (a
 * permutation of [0, L)), or null for position order. The sparse kernel shares the keys
 * that many of a block of consecutive rows attend (one gather, GEMMs); a pattern whose
 * neighbours in position order share few keys (axial attention's columns) runs faster with
 * the queries that share them side by side. The output does not depend on the order, up to
 * float rounding; attention dropout draws its mask per pattern entry, so with an order the
 * same generator drops other entries.
 */
export type RowOrder = (L: number, causal: boolean) => Int32Array | null;

/**
 * One part of a pattern split into parts (PatternSplit): its keys, the order of the
 * positions (queries and keys alike) the kernel runs it in (null: position order), and its
 * sign (-1: its pairs are taken away, see F.sparseMultiHeadAttentionParts).
 */
export interface PartKeys {
  rowKeys: RowKeys;
  order: Int32Array | null;
  sign?: 1 | -1;
}

/**
 * A pattern as parts at L positions, each computed in its own order and merged by
 * log-sum-exp (F.sparseMultiHeadAttentionParts), or null to run the pattern whole. A part
 * whose keys are scattered in position order but contiguous in another (strided attention's
 * column, axial attention's grid column) then runs on shared keys (one gather or none,
 * GEMMs). With `signed`, the parts' signed count is 1 on every pair of the pattern (whole
 * rows and columns, the pairs in both taken away by a part of sign -1: every part a run of
 * shared keys); else the parts are disjoint, all of sign 1 (needed under dropout). Their
 * union (signed sum) is the pattern's rowKeys either way.
 */
export type PatternSplit = (L: number, causal: boolean, signed: boolean) => PartKeys[] | null;

/**
 * The shortest grid column (positions) for which strided and axial attention run split: the
 * parts cost a merge and a gather per call, which shorter columns do not earn back. Measured
 * (T 512 .. 8192, layer forward + backward): axial (width 32) split 5.0 vs 2.8 ms at T 512
 * (columns of 16), equal at 1024 (32), 11 vs 16 ms at 2048; strided (stride 128) 12 vs 8 ms
 * at 1024 (8), 37 vs 39 causal and 49 vs 62 ms at 4096 (32), 81 vs 155 ms at 8192 (64).
 */
export const SPLIT_MIN_COLUMN = 32;

/**
 * A part's CSR pattern (F.PatternPart) over L positions in `order`: row t is the query at
 * position order[t] (t when null), its keys (rowKeys', causal-filtered in position order)
 * given as indices into the same order, sorted and distinct.
 */
export function buildPartPattern(
  rowKeys: RowKeys,
  L: number,
  causal: boolean,
  order: Int32Array | null,
): SparsePattern {
  if (!order) return buildPattern(rowKeys, L, causal);
  if (order.length !== L)
    throw new Error(`buildPartPattern: an order of ${order.length} positions for ${L}`);
  const inverse = new Int32Array(L);
  for (let t = 0; t < L; t++) inverse[order[t]] = t;
  const byPosition = buildPattern(rowKeys, L, causal, 0, order); // rows in order, keys by position
  const cols = new Int32Array(byPosition.cols.length);
  for (let t = 0; t < L; t++) {
    const [e0, e1] = [byPosition.rowPtr[t], byPosition.rowPtr[t + 1]];
    for (let e = e0; e < e1; e++) cols[e] = inverse[byPosition.cols[e]];
    cols.subarray(e0, e1).sort();
  }
  return { T: L, S: L, rowPtr: byPosition.rowPtr, cols };
}

/**
 * The CSR pattern of rows [first, L) of `rowKeys` over keys [0, L): sorted, distinct, in
 * range, causal-filtered.
 * @param order when given (first = 0), row t of the pattern is query order[t] (a
 *   permutation of [0, L); see RowOrder), else query first + t.
 * @returns a pattern of T = L - first query rows and S = L keys.
 * @throws Error if first is not in [0, L], or order has not L - first rows.
 */
export function buildPattern(
  rowKeys: RowKeys,
  L: number,
  causal: boolean,
  first = 0,
  order: Int32Array | null = null,
): SparsePattern {
  if (!(Number.isInteger(first) && first >= 0 && first <= L))
    throw new Error(`buildPattern: first row ${first} must be in [0, ${L}]`);
  const T = L - first;
  if (order && order.length !== T)
    throw new Error(`buildPattern: a row order of ${order.length} rows for ${T} rows`);
  const rowPtr = new Int32Array(T + 1);
  const rows: Int32Array[] = [];
  const buf: number[] = [];
  for (let t = 0; t < T; t++) {
    const i = order ? order[t] : first + t;
    buf.length = 0;
    rowKeys(i, L, causal, buf);
    const hi = causal ? i : L - 1;
    const keys = Int32Array.from(buf.filter((j) => j >= 0 && j <= hi)).sort();
    let n = 0;
    for (let e = 0; e < keys.length; e++)
      if (e === 0 || keys[e] !== keys[e - 1]) keys[n++] = keys[e];
    rows.push(keys.subarray(0, n));
    rowPtr[t + 1] = rowPtr[t] + n;
  }
  const cols = new Int32Array(rowPtr[T]);
  rows.forEach((r, t) => cols.set(r, rowPtr[t]));
  return { T, S: L, rowPtr, cols };
}

/** The pattern as an additive (T, S) bias: 0 on its entries, -Infinity elsewhere (dense). */
export function patternBias(p: SparsePattern): Tensor {
  const m = full([p.T, p.S], -Infinity);
  for (let t = 0; t < p.T; t++)
    for (let e = p.rowPtr[t]; e < p.rowPtr[t + 1]; e++) m.f32[t * p.S + p.cols[e]] = 0;
  return m;
}

/** Patterns kept by SparsePatternCore, shared by the cores of one pattern. */
const patternCache = new Map<string, SparsePattern>();
/** The row-ordered patterns with their orders (null: position order at that length). */
const orderedCache = new Map<string, { pattern: SparsePattern; order: Int32Array } | null>();
/** The split patterns' parts (null: no split at that length). */
const partsCache = new Map<string, F.PatternPart[] | null>();
const PATTERN_CACHE_SIZE = 8;

/** The entry of `key` in `cache`, built on a miss; the cache keeps its PATTERN_CACHE_SIZE newest. */
function cachedEntry<V>(cache: Map<string, V>, key: string, build: () => V): V {
  if (cache.has(key)) return cache.get(key) as V;
  const v = build();
  cache.set(key, v);
  // Keep the most recent few (Map iterates in insertion order: the oldest first).
  for (const old of cache.keys()) {
    if (cache.size <= PATTERN_CACHE_SIZE) break;
    cache.delete(old);
  }
  return v;
}
let coreCount = 0;

/** Whether a bias broadcastable to (B, H, T, S) is the same for every query (a key bias). */
function perKey(bias: Tensor | null): boolean {
  return !bias || bias.ndim < 2 || bias.shape[bias.ndim - 2] === 1;
}

/**
 * A core that attends by a position-based pattern (`rowKeys`), sparsely. Self-attention
 * only (queries and keys are the same positions). Decodes with a KVState that keeps every
 * key (globals and random keys may reach far back).
 */
export class SparsePatternCore extends KVAttentionCore {
  /** The key of this core's patterns in the shared cache. */
  private readonly patternKey: string;

  /**
   * @param patternKey names the pattern (the canonical spec, e.g. `strided:stride=128`):
   *   cores with the same key (the layers of a model) share their cached patterns. Default:
   *   a key of this core alone.
   */
  constructor(
    dims: CoreDims,
    readonly kind: string,
    readonly rowKeys: RowKeys,
    patternKey?: string,
    readonly rowOrder: RowOrder | null = null,
    readonly split: PatternSplit | null = null,
  ) {
    super(dims);
    this.patternKey = patternKey ?? `${kind}#${++coreCount}`;
  }

  /** The pattern over L positions (cached per (pattern, L, causal), shared by the layers). */
  pattern(L: number, causal: boolean): SparsePattern {
    return cachedEntry(patternCache, `${this.patternKey}|${L}|${causal}`, () =>
      buildPattern(this.rowKeys, L, causal),
    );
  }

  /**
   * The pattern with its rows in `rowOrder`'s order, and that order as (B*L) row ids of the
   * batch's (B*L, C) query rows (and the inverse, to put the output back), or null when the
   * pattern has no row order at L.
   */
  private ordered(
    L: number,
    B: number,
    causal: boolean,
  ): { pattern: SparsePattern; ids: Tensor; inverse: Tensor } | null {
    if (!this.rowOrder) return null;
    const rowOrder = this.rowOrder;
    const entry = cachedEntry(orderedCache, `${this.patternKey}|${L}|${causal}`, () => {
      const order = rowOrder(L, causal);
      return order && { pattern: buildPattern(this.rowKeys, L, causal, 0, order), order };
    });
    if (!entry) return null;
    const { pattern, order } = entry;
    const ids = new Int32Array(B * L);
    const inverse = new Int32Array(B * L);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < L; t++) {
        ids[b * L + t] = b * L + order[t];
        inverse[b * L + order[t]] = b * L + t;
      }
    return { pattern, ids: new Tensor(ids, [B * L]), inverse: new Tensor(inverse, [B * L]) };
  }

  /**
   * The pattern's parts at L positions (PatternSplit, signed or disjoint; cached like the
   * patterns), or null when not split.
   */
  parts(L: number, causal: boolean, signed = true): F.PatternPart[] | null {
    if (!this.split) return null;
    const split = this.split;
    return cachedEntry(partsCache, `${this.patternKey}|${L}|${causal}|${signed}`, () => {
      const parts = split(L, causal, signed);
      return (
        parts &&
        parts.map(({ rowKeys, order, sign }) => ({
          pattern: buildPartPattern(rowKeys, L, causal, order),
          order,
          sign,
        }))
      );
    });
  }

  /** @throws Error for cross-attention (T != S without a state). */
  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    if (state) return this.decode(input, state);
    const T = input.q.x.shape[1];
    const S = input.k.x.shape[1];
    if (T !== S)
      throw new Error(
        `${this.kind} attention: a position pattern needs self-attention (T = S), got ${T} queries and ${S} keys`,
      );
    if (!perKey(input.bias) || input.bias?.requiresGrad) {
      const [q, k, v] = this.splitHeads(input); // (B, H, L, D)
      return this.dense(q, k, v, this.pattern(T, input.causal), input);
    }
    // Signed parts (every part a run) unless dropout draws a mask per part.
    const dropout = (input.dropoutP ?? 0) > 0;
    const parts = input.needWeights ? null : this.parts(T, input.causal, !dropout);
    if (parts) {
      const out = F.sparseMultiHeadAttentionParts(
        ...packedHeads(input, this.numHeads, this.headDim),
        parts,
        { bias: input.bias, dropoutP: input.dropoutP, generator: input.generator },
      );
      return { out, weights: null };
    }
    const ordered = input.needWeights ? null : this.ordered(T, input.q.x.shape[0], input.causal);
    if (ordered) {
      // The queries in the pattern's row order: (B*T, C) rows gathered, the output's rows
      // put back (both by the embedding gather, whose backward scatters the gradients).
      const [B, C] = [input.q.x.shape[0], this.numHeads * this.headDim];
      const q = F.slice(input.q.x, 2, input.q.col, input.q.col + C); // (B, T, C)
      const qo = F.reshape(F.embedding(ordered.ids, F.reshape(q, [B * T, C])), [B, T, C]);
      const r = F.sparseMultiHeadAttention(
        qo,
        input.k.x,
        input.v.x,
        this.numHeads,
        this.headDim,
        { q: 0, k: input.k.col, v: input.v.col },
        ordered.pattern,
        { bias: input.bias, ...runOptions(input) },
      );
      const out = F.embedding(ordered.inverse, F.reshape(r.out, [B * T, C]));
      return { out: F.reshape(out, [B, T, C]), weights: null };
    }
    const pattern = this.pattern(T, input.causal);
    return F.sparseMultiHeadAttention(...packedHeads(input, this.numHeads, this.headDim), pattern, {
      bias: input.bias,
      ...runOptions(input),
    });
  }

  /**
   * A bias that varies over queries (a (T, S) mask, relative positions): dense attention
   * under the pattern's mask, O(T S); through the autograd reference when the bias needs a
   * gradient (learned relative positions), else the fused kernel.
   * @param k, v (B, H, R, D) with R >= pattern.S (a cache's buffers).
   */
  private dense(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: SparsePattern,
    input: CoreInput,
  ): CoreOutput {
    const mask = patternBias(pattern); // (T, S)
    const bias = input.bias ? F.add(input.bias, mask) : mask;
    const opts = { dropoutP: input.dropoutP, generator: input.generator };
    if (input.bias?.requiresGrad) {
      const rows = (x: Tensor): Tensor =>
        x.shape[2] === pattern.S ? x : F.slice(x, 2, 0, pattern.S);
      const r = attention(q, rows(k), rows(v), { ...opts, bias }); // (B, H, T, D)
      return { out: mergeHeads(r.out), weights: input.needWeights ? r.weights : null };
    }
    const r = F.attentionOverCache(q, k, v, pattern.S, {
      ...opts,
      mask: bias,
      needWeights: input.needWeights,
    });
    return { out: mergeHeads(r.out), weights: r.weights };
  }

  /** Decoding: append; the new queries (positions L - T .. L - 1) attend their rows' keys. */
  private decode(input: CoreInput, state: KVState): CoreOutput {
    const q = this.appendCausal(input, state); // (B, H, T, D)
    const T = q.shape[2];
    const L = state.length;
    const pattern = buildPattern(this.rowKeys, L, true, L - T); // rows L - T .. L - 1
    let bias = input.bias;
    if (bias) {
      const last = bias.shape[bias.ndim - 1];
      if (last !== 1 && last !== L) bias = F.slice(bias, bias.ndim - 1, last - L, last);
    }
    if ((!perKey(bias) && T > 1) || bias?.requiresGrad)
      return this.dense(q, state.k!, state.v!, pattern, { ...input, bias });
    const r = F.sparseAttention(q, state.k!, state.v!, pattern, {
      bias,
      ...runOptions(input),
    });
    return { out: mergeHeads(r.out), weights: r.weights };
  }
}

/** What a pattern family declares: its registry entry, and its pattern from the parameters. */
export interface PatternVariantSpec {
  readonly name: string;
  readonly params: readonly VariantParam[];
  readonly cost: string;
  readonly paper: string;
  /**
   * The pattern from the parameters (all integers, by name); @throws Error naming a
   * parameter whose value does not fit the others.
   */
  rowKeys(p: PatternParams): RowKeys;
  /** The order the kernel visits the queries in (RowOrder), when not position order. */
  rowOrder?(p: PatternParams): RowOrder;
  /** The pattern as parts run in their own orders (PatternSplit: signed, or disjoint). */
  split?(p: PatternParams): PatternSplit;
}

/** A pattern family's parameters: all of them are integers (`intParam`). */
export type PatternParams = Readonly<Record<string, number>>;

/** The registry entry of a pattern family: runs causally and not, as a SparsePatternCore. */
export function patternVariant(spec: PatternVariantSpec): AttentionVariant {
  return {
    name: spec.name,
    params: spec.params,
    cost: spec.cost,
    paper: spec.paper,
    causal: true,
    nonCausal: true,
    create: (dims, p) =>
      new SparsePatternCore(
        dims,
        spec.name,
        spec.rowKeys(p as PatternParams),
        `${spec.name}:${JSON.stringify(p)}`,
        spec.rowOrder?.(p as PatternParams) ?? null,
        spec.split?.(p as PatternParams) ?? null,
      ),
  };
}

/** An integer parameter with a default and a lower bound (the registry checks the range). */
export function intParam(name: string, def: number, min: number, doc: string): VariantParam {
  return { name, type: 'int', default: def, min, doc };
}
