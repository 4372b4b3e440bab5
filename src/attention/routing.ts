/**
 * `routing`: the Routing Transformer's content-based sparse attention by online k-means
 * (Roy et al. 2021, Sec. 4 "Routing attention"; survey Lin et al. 2021, Sec. 4.1.2), after
 * its reference implementation (lucidrains/routing-transformer, `KmeansAttention`).
 *
 * - Centroids mu (H, k, D), one set per head, shared by queries and keys: a row x is
 *   compared by its direction, sim(x, mu_c) = (x / |x|) . mu_c.
 * - Non-causal: balanced clusters. Cluster c holds the `window` queries and the `window` keys
 *   most similar to mu_c (top-w, in position order; a row may be in several clusters or in
 *   none); the queries of a cluster attend its keys, and a query's output is the mean over
 *   the clusters that hold it (the reference's scatter-mean); a query in no cluster gets 0.
 * - Causal: top-w membership depends on the whole sequence (a later token can push an
 *   earlier one out of a cluster), so it would leak the future and could not be decoded
 *   incrementally. Causal routing therefore assigns each row to its nearest centroid
 *   (argmax, a function of the row alone); the keys of each cluster, in position order, are
 *   cut into chunks of `window`, and a query attends, among the keys of its cluster at
 *   positions <= its own, those in the chunk of the latest one and the previous chunk
 *   (between 1 and 2 window keys; chunk-plan.ts, the rule LSH uses); a query with no such key
 *   gets 0. Decoding keeps every key and value and each key's cluster (TaggedKVState) and
 *   gives the same result.
 * - Online k-means (Sec. 4, "updated with an exponential moving average"): on each training
 *   forward (not decoding), after routing, mu <- decay mu + (1 - decay) mu', where mu'_c is
 *   the normalized sum of the unit q and k rows nearest mu_c (batch and positions pooled);
 *   a centroid with no row keeps its value. The centroids are not trained by gradient: they
 *   are held as the parameter `means` (state dict `...core.means`, so they save and load)
 *   with requiresGrad off, which optimizers skip (no gradient). Unlike the reference, they
 *   start as random unit vectors drawn from `seed`, not from k-means on the first batch, and
 *   the commitment loss is not added.
 *
 * Time O(T k D) for routing plus O(k w^2 D) (non-causal) or O(T w D) (causal) for the
 * attention; memory O(k w^2) or O(T w): never a T x T score matrix.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width, k clusters, w window.
 */
import { Generator } from '../random.js';
import { backend } from '../backend/index.js';
import { Tensor, randn, uninitF32 } from '../tensor.js';
import {
  checkInt,
  mergeHeads,
  runOptions,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import type { AttentionVariant } from './registry.js';
import { chunkedPlan } from './chunk-plan.js';
import {
  TaggedKVCore,
  TaggedKVState,
  biasReader,
  gatheredAttention,
  type GatherPlan,
} from './gathered.js';

export class RoutingAttention extends TaggedKVCore {
  readonly kind = 'routing';
  /** The centroids (H, k, D): a non-trainable parameter updated by EMA in training. */
  readonly means: Tensor;

  /**
   * @param clusters k >= 1.
   * @param window w >= 1: rows per cluster (non-causal) or keys per chunk of a cluster (causal).
   * @param decay EMA decay of the centroids in [0, 1].
   * @param seed seed of the initial centroids.
   * @throws Error naming the parameter when out of range.
   */
  constructor(
    dims: CoreDims,
    readonly clusters: number,
    readonly window: number,
    readonly decay = 0.999,
    seed = 0,
  ) {
    super(dims, 1);
    checkInt('routing attention', 'clusters', clusters);
    checkInt('routing attention', 'window', window);
    if (!(decay >= 0 && decay <= 1))
      throw new Error(`routing attention: decay must be in [0, 1], got ${decay}`);
    const mu = randn([dims.numHeads, clusters, dims.headDim], new Generator(seed));
    normalizeRows(mu.f32, dims.headDim);
    this.means = this.param('means', mu);
    this.means.requiresGrad = false;
  }

  /**
   * Similarity of every row to every centroid of its head: (x / |x|) . mu_c.
   * @param x (B, H, L, D) float32
   * @returns Float32Array (B, H, L, k)
   */
  similarity(x: Tensor): Float32Array {
    const [B, H, L, D] = x.shape;
    const k = this.clusters;
    const xd = x.f32;
    const mu = this.means.f32;
    const out = uninitF32(B * H * L * k); // written whole by the GEMMs
    const be = backend();
    for (let bh = 0; bh < B * H; bh++) {
      const h = bh % H;
      const o = out.subarray(bh * L * k, (bh + 1) * L * k);
      // x . mu_c for the head's L rows and k centroids: one (L, D) x (D, k) GEMM.
      const rows = xd.subarray(bh * L * D, (bh + 1) * L * D);
      be.matmul(o, rows, mu.subarray(h * k * D, (h + 1) * k * D), 1, L, k, D, false, true, 0, 0, 0);
      for (let l = 0; l < L; l++) {
        let n = 0;
        for (let d = 0; d < D; d++) n += rows[l * D + d] * rows[l * D + d];
        const inv = 1 / Math.max(Math.sqrt(n), 1e-12);
        for (let c = 0; c < k; c++) o[l * k + c] *= inv;
      }
    }
    return out;
  }

  /**
   * The nearest centroid of every row (causal routing).
   * @param x (B, H, L, D) float32
   * @returns Int32Array (B, H, L) in [0, k)
   */
  nearest(x: Tensor): Int32Array {
    return this.nearestOf(this.similarity(x));
  }

  /** nearest() from similarity() (B, H, L, k): the first best centroid of every row. */
  private nearestOf(sim: Float32Array): Int32Array {
    const k = this.clusters;
    const out = new Int32Array(sim.length / k);
    for (let i = 0; i < out.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (sim[i * k + c] > sim[i * k + best]) best = c;
      out[i] = best;
    }
    return out;
  }

  /**
   * The members of every cluster (non-causal routing): the min(w, L) rows most similar to
   * each centroid (ties to the earlier row), in position order.
   * @param x (B, H, L, D) float32
   * @returns Int32Array (B, H, k, min(w, L)) row indices
   */
  members(x: Tensor): Int32Array {
    const [B, H, L] = x.shape;
    return this.membersOf(this.similarity(x), B * H, L);
  }

  /** members() from similarity() (BH, L, k). */
  private membersOf(sim: Float32Array, BH: number, L: number): Int32Array {
    const k = this.clusters;
    const w = Math.min(this.window, L);
    const out = new Int32Array(BH * k * w);
    const score = new Float32Array(L);
    for (let bh = 0; bh < BH; bh++)
      for (let c = 0; c < k; c++) {
        for (let l = 0; l < L; l++) score[l] = sim[(bh * L + l) * k + c];
        out.set(topRows(score, w), (bh * k + c) * w);
      }
    return out;
  }

  forward(input: CoreInput, state?: TaggedKVState | null): CoreOutput {
    const H = this.numHeads;
    const [q, k, v] = this.splitHeads(input); // (B, H, T, D), (B, H, S, D) twice
    const [B, , T] = q.shape;
    const S = k.shape[2];
    const opts = {
      ...runOptions(input),
    };
    let plan: GatherPlan;
    let [keys, values, total] = [k, v, S];
    if (state) {
      if (!input.causal)
        throw new Error('routing attention: decoding with a state needs causal attention');
      state.append(k, v);
      state.appendTags(this.nearest(k), B * H, S);
      [keys, values, total] = [state.k!, state.v!, state.rows];
    }
    biasReader(input.bias, [B, H, T, total], 'routing'); // refuses a bias that does not fit
    const bias = input.bias;
    // Each row's similarities once: the routing and the centroids' update share them.
    const simQ = this.similarity(q);
    const simK = state ? null : this.similarity(k);
    // Nearest centroids, computed once for the causal plan and the centroids' update.
    let nearQ: Int32Array | null = null;
    let nearK: Int32Array | null = null;
    if (input.causal || state) {
      nearQ = this.nearestOf(simQ);
      const ck = simK ? (nearK = this.nearestOf(simK)) : null;
      plan = chunkedPlan({
        B,
        H,
        R: 1,
        qTags: nearQ,
        kTags: state
          ? state.tags
          : Array.from({ length: B * H }, (_, i) => ck!.subarray(i * S, (i + 1) * S)),
        qStart: state ? total - T : input.offset,
        chunk: this.window,
        causal: true,
        flagSelf: false,
        bias,
        combine: 'mean',
      });
    } else {
      const qm = this.membersOf(simQ, B * H, T);
      const km = this.membersOf(simK!, B * H, S);
      plan = clusterPlan(qm, km, B, H, this.clusters, T, S, bias);
    }
    if (this.training && !state)
      this.updateMeans(q, k, nearQ ?? this.nearestOf(simQ), nearK ?? this.nearestOf(simK!));
    const r = gatheredAttention(plan, q, keys, values, { ...opts, S: total });
    return { out: mergeHeads(r.out), weights: r.weights };
  }

  /**
   * One online k-means step: mu <- decay mu + (1 - decay) normalize(sum of the unit rows of
   * q and k nearest each centroid); centroids with no row keep their value.
   * @param q (B, H, T, D); k (B, H, S, D)
   * @param near their rows' nearest centroids (nearest(q), nearest(k)), when known.
   */
  updateMeans(q: Tensor, k: Tensor, ...near: Int32Array[]): void {
    const H = this.numHeads;
    const D = this.headDim;
    const nc = this.clusters;
    const sums = new Float64Array(H * nc * D);
    const counts = new Int32Array(H * nc);
    for (const [i, x] of [q, k].entries()) {
      const [B, , L] = x.shape;
      const nearest = near[i] ?? this.nearest(x);
      const xd = x.f32;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let l = 0; l < L; l++) {
            const i = (b * H + h) * L + l;
            const c = h * nc + nearest[i];
            let n = 0;
            for (let d = 0; d < D; d++) n += xd[i * D + d] ** 2;
            const inv = 1 / Math.max(Math.sqrt(n), 1e-12);
            for (let d = 0; d < D; d++) sums[c * D + d] += xd[i * D + d] * inv;
            counts[c]++;
          }
    }
    const fresh = Float32Array.from(sums);
    normalizeRows(fresh, D);
    const mu = this.means.f32;
    for (let c = 0; c < H * nc; c++) {
      if (counts[c] === 0) continue;
      for (let d = 0; d < D; d++)
        mu[c * D + d] = this.decay * mu[c * D + d] + (1 - this.decay) * fresh[c * D + d];
    }
  }
}

/**
 * The w rows of the highest scores (ties to the earlier row), in ascending row order: a
 * min-heap of the best w seen, O(L log w) (a full sort per centroid cost more than the
 * attention at T 8192).
 * @param score (L) float32; w <= L.
 * @returns Int32Array (w) row indices.
 */
export function topRows(score: Float32Array, w: number): Int32Array {
  const heap = new Int32Array(w); // heap[0] the worst kept row
  // a is worse than b: a lower score, or the same score at a later row.
  const worse = (a: number, b: number): boolean =>
    score[a] < score[b] || (score[a] === score[b] && a > b);
  const down = (i: number, n: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const m = l + 1 < n && worse(heap[l + 1], heap[l]) ? l + 1 : l;
      if (!worse(heap[m], heap[i])) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let l = 0; l < w; l++) heap[l] = l;
  for (let i = (w >> 1) - 1; i >= 0; i--) down(i, w);
  for (let l = w; l < score.length; l++)
    if (worse(heap[0], l)) {
      heap[0] = l;
      down(0, w);
    }
  return heap.sort();
}

/** Scale each row of D values to unit length in place (zero rows stay zero). */
function normalizeRows(x: Float32Array, D: number): void {
  for (let r = 0; r < x.length / D; r++) {
    let n = 0;
    for (let d = 0; d < D; d++) n += x[r * D + d] ** 2;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let d = 0; d < D; d++) x[r * D + d] *= inv;
  }
}

/**
 * Non-causal routing: group c = cluster c, its query slots the member queries and its key
 * slots the member keys; a query's slots are its clusters (combined by their mean).
 * @param qm (B, H, k, wq) member queries; km (B, H, k, wk) member keys.
 */
export function clusterPlan(
  qm: Int32Array,
  km: Int32Array,
  B: number,
  H: number,
  k: number,
  T: number,
  S: number,
  bias: Tensor | null,
): GatherPlan {
  const Q = qm.length / (B * H * k);
  const K = km.length / (B * H * k);
  const where: number[][] = Array.from({ length: B * H * T }, () => []); // slots of each query
  for (let bh = 0; bh < B * H; bh++)
    for (let i = 0; i < k * Q; i++) where[bh * T + qm[bh * k * Q + i]].push(i);
  const M = Math.max(1, ...where.map((w) => w.length));
  const slot = new Int32Array(B * H * T * M).fill(-1);
  where.forEach((w, i) => slot.set(w, i * M));
  const rules = { causal: false, qStart: 0, flagSelf: false, bias };
  return { B, H, G: k, Q, K, T, M, qRow: qm, kRow: km, slot, combine: 'mean', ...rules };
}

/** The registry entry of `routing` (`--attention routing:clusters=4,window=64`). */
export const routingVariant: AttentionVariant = {
  name: 'routing',
  params: [
    { name: 'clusters', type: 'int', default: 4, min: 1, doc: 'k-means centroids per head' },
    {
      name: 'window',
      type: 'int',
      default: 64,
      min: 1,
      doc: 'rows per cluster (causal: keys per chunk)',
    },
    {
      name: 'decay',
      type: 'number',
      default: 0.999,
      min: 0,
      doc: 'EMA decay of the centroids (<= 1)',
    },
    { name: 'seed', type: 'int', default: 0, min: 0, doc: 'seed of the initial centroids' },
  ],
  cost: 'O(T k D + k w^2 D) time, O(k w^2) memory (causal: O(T (k + w) D), O(T w))',
  paper: 'Routing Transformer: Roy et al. 2021, Sec. 4 (survey Sec. 4.1.2)',
  causal: true,
  nonCausal: true,
  create: (d, p) =>
    new RoutingAttention(
      d,
      p.clusters as number,
      p.window as number,
      p.decay as number,
      p.seed as number,
    ),
};
