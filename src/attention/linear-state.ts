/**
 * Linearized attention, the computation shared by `linear` and `performer` (Katharopoulos
 * et al. 2020, "Transformers are RNNs", Sec. 3.2-3.4; the survey's Sec. 4.2). With a
 * feature map phi replacing exp(q k^T), the sums over keys factor out of the queries:
 *
 *   non-causal (Eq. 5-6): V'_i = phi(Q_i) (sum_j phi(K_j)^T V_j) / (phi(Q_i) sum_j phi(K_j))
 *   causal (Eq. 8-9):     S_i = sum_{j<=i} phi(K_j)^T V_j,  z_i = sum_{j<=i} phi(K_j),
 *                         V'_i = phi(Q_i) S_i / (phi(Q_i) z_i)
 *
 * The causal form runs in chunks of c queries: inside a chunk the masked quadratic form
 * (phi(Q) phi(K)^T with the lower triangle kept, O(c^2) per chunk), across chunks the
 * running (M x D) state S and (M) normalizer z. Decoding keeps S and z in a `LinearState`,
 * so a token costs O(M D) whatever its position (the RNN view, Sec. 3.4): one token at a
 * time runs the recurrence itself (`recurrentLinearStep`), a prompt the chunked form.
 *
 * Shape letters: B batch, H heads, T queries, S keys, M features, D head width,
 * c chunk length, n chunks (ceil T / c).
 */
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  AttentionCore,
  checkInt,
  mergeHeads,
  type AttentionState,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { keyKeep, padRowsAfter } from './key-mask.js';
import { selectRows0 } from './state.js';

/** Added to every normalizer: a query whose keys are all masked gets 0, not NaN. */
const TINY = 1e-30;

/**
 * The recurrent state of causal linear attention: S = sum_j phi(K_j)^T V_j and
 * z = sum_j phi(K_j) over the positions seen (Eq. 8-9), updated in place by the core.
 */
export class LinearState implements AttentionState {
  /** (B, H, M, D), or null before the first token. */
  s: Tensor | null = null;
  /** (B, H, M), or null before the first token. */
  z: Tensor | null = null;
  length = 0;

  selectRows(idx: readonly number[]): void {
    if (this.s) this.s = selectRows0(this.s, idx); // (N', H, M, D)
    if (this.z) this.z = selectRows0(this.z, idx); // (N', H, M)
  }
}

/**
 * Non-causal linearized attention, Eq. 5-6.
 * @param phiQ (B, H, T, M) float32 query features; phiK (B, H, S, M) key features (zero
 *   rows for padded keys); v (B, H, S, D).
 * @returns (B, H, T, D).
 */
export function linearAttention(phiQ: Tensor, phiK: Tensor, v: Tensor): Tensor {
  const kv = F.matmul(phiK, v, { transA: true }); // sum_j phi(K_j)^T V_j: (B, H, M, D)
  const z = F.sum(phiK, 2, true); // sum_j phi(K_j): (B, H, 1, M)
  const num = F.matmul(phiQ, kv); // (B, H, T, D)
  const den = F.matmul(phiQ, z, { transB: true }); // (B, H, T, 1)
  return F.div(num, F.add(den, TINY));
}

/** The lower triangle (c, c) with the diagonal: 1 where key j <= query i. */
function lowerTriangle(c: number): Tensor {
  const m = zeros([c, c]);
  for (let i = 0; i < c; i++) m.f32.fill(1, i * c, i * c + i + 1);
  return m;
}

/**
 * Causal linearized attention, Eq. 8-9, in chunks of `chunk` positions (see the file's
 * comment), continuing from a state (s0, z0) of earlier positions when given.
 * @param phiQ (B, H, T, M) float32; phiK (B, H, T, M) (zero rows for padded keys);
 *   v (B, H, T, D): query t and key t are at the same position.
 * @param s0 (B, H, M, D) and z0 (B, H, M): the sums over earlier positions, or null.
 * @returns out (B, H, T, D) and the sums s (B, H, M, D), z (B, H, M) over every position.
 * @throws Error when phiQ and phiK differ in length (causal self-attention only).
 */
export function causalLinearAttention(
  phiQ: Tensor,
  phiK: Tensor,
  v: Tensor,
  chunk: number,
  s0: Tensor | null = null,
  z0: Tensor | null = null,
): { out: Tensor; s: Tensor; z: Tensor } {
  const [B, H, T, M] = phiQ.shape;
  const D = v.shape[3];
  if (phiK.shape[2] !== T || v.shape[2] !== T)
    throw new Error(
      `causal linear attention: queries ${fmtShape(phiQ.shape)}, keys ${fmtShape(phiK.shape)} and values ${fmtShape(v.shape)} must have one length`,
    );
  const c = Math.min(chunk, T);
  const n = Math.ceil(T / c);
  const pad = n * c - T; // zero rows: padded keys add nothing, padded queries are dropped
  const qb = F.reshape(padRowsAfter(phiQ, pad), [B, H, n, c, M]); // (B, H, n, c, M)
  const kb = F.reshape(padRowsAfter(phiK, pad), [B, H, n, c, M]);
  const vb = F.reshape(padRowsAfter(v, pad), [B, H, n, c, D]); // (B, H, n, c, D)
  // Inside each chunk: the masked quadratic form.
  const a = F.mul(F.matmul(qb, kb, { transB: true }), lowerTriangle(c)); // (B, H, n, c, c)
  const numIn = F.matmul(a, vb); // (B, H, n, c, D)
  const denIn = F.sum(a, -1, true); // (B, H, n, c, 1)
  // Across chunks: exclusive prefix sums of the chunks' phi(K)^T V and phi(K).
  const kvChunk = F.matmul(kb, vb, { transA: true }); // (B, H, n, M, D)
  const zChunk = F.sum(kb, 3, true); // (B, H, n, 1, M)
  let s = s0 ? F.reshape(s0, [B, H, 1, M, D]) : zeros([B, H, 1, M, D]);
  let z = z0 ? F.reshape(z0, [B, H, 1, 1, M]) : zeros([B, H, 1, 1, M]);
  const sParts: Tensor[] = [];
  const zParts: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    sParts.push(s);
    zParts.push(z);
    s = F.add(s, F.slice(kvChunk, 2, i, i + 1)); // (B, H, 1, M, D)
    z = F.add(z, F.slice(zChunk, 2, i, i + 1)); // (B, H, 1, 1, M)
  }
  const sPrefix = n === 1 ? sParts[0] : F.concat(sParts, 2); // (B, H, n, M, D)
  const zPrefix = n === 1 ? zParts[0] : F.concat(zParts, 2); // (B, H, n, 1, M)
  const num = F.add(numIn, F.matmul(qb, sPrefix)); // (B, H, n, c, D)
  const den = F.add(denIn, F.matmul(qb, zPrefix, { transB: true })); // (B, H, n, c, 1)
  const out = F.reshape(F.div(num, F.add(den, TINY)), [B, H, n * c, D]); // (B, H, n*c, D)
  return {
    out: pad ? F.slice(out, 2, 0, T) : out, // (B, H, T, D)
    s: F.reshape(s, [B, H, M, D]),
    z: F.reshape(z, [B, H, M]),
  };
}

/**
 * One step of the recurrence (Eq. 8-9 as an RNN, Sec. 3.4): S += phi(K_t)^T V_t,
 * z += phi(K_t), V'_t = phi(Q_t) S / (phi(Q_t) z). O(M D) whatever the position.
 * @param phiQ (B, H, 1, M) float32; phiK (B, H, 1, M); v (B, H, 1, D).
 * @param s0 (B, H, M, D) and z0 (B, H, M): the sums over earlier positions, or null.
 * @returns out (B, H, 1, D) and the updated sums s, z.
 */
export function recurrentLinearStep(
  phiQ: Tensor,
  phiK: Tensor,
  v: Tensor,
  s0: Tensor | null,
  z0: Tensor | null,
): { out: Tensor; s: Tensor; z: Tensor } {
  const [B, H, , M] = phiQ.shape;
  const kv = F.matmul(phiK, v, { transA: true }); // phi(K_t)^T V_t: (B, H, M, D)
  const s = s0 ? F.add(s0, kv) : kv; // (B, H, M, D)
  const zt = F.reshape(phiK, [B, H, M]);
  const z = z0 ? F.add(z0, zt) : zt; // (B, H, M)
  const num = F.matmul(phiQ, s); // (B, H, 1, D)
  const den = F.matmul(phiQ, F.reshape(z, [B, H, M, 1])); // (B, H, 1, 1)
  return { out: F.div(num, F.add(den, TINY)), s, z };
}

/**
 * A linearized-attention core: a feature map phi (the subclass's) and the computation
 * above. Runs non-causally (encoders) or causally (decoders, chunked), and decodes with a
 * LinearState. Dropout on attention weights does not apply (there are none); `needWeights`
 * gets null. Masks: a key padding mask only (padded keys' features are zeroed).
 */
export abstract class LinearizedCore extends AttentionCore<LinearState> {
  readonly supportsCausal = true;
  readonly supportsNonCausal = true;

  /** @throws Error if chunk is not an integer >= 1. */
  constructor(
    dims: CoreDims,
    readonly chunk: number,
  ) {
    super(dims);
    checkInt(this.constructor.name, 'chunk', chunk);
  }

  /**
   * The feature map phi.
   * @param x (B, H, L, D) queries or keys.
   * @param isQuery whether x holds queries.
   * @param causal whether the call is causal (a stabilizer may not look at later keys).
   * @returns (B, H, L, M) non-negative features.
   */
  abstract featureMap(x: Tensor, isQuery: boolean, causal: boolean): Tensor;

  newState(): LinearState {
    return new LinearState();
  }

  /**
   * @returns out (B, T, H*D); weights null.
   * @throws Error for a bias other than a key padding mask, for decoding without `causal`,
   *   or for causal attention over keys of another length than the queries without a state.
   */
  forward(input: CoreInput, state?: LinearState | null): CoreOutput {
    const [q, k, v] = this.splitHeads(input); // (B, H, T, D), (B, H, S, D) twice
    const T = q.shape[2];
    const S = k.shape[2];
    const causal = input.causal;
    const keep = keyKeep(input.bias, S, this.kind); // (B|1, H|1, S, 1) or null
    const phiQ = this.featureMap(q, true, causal); // (B, H, T, M)
    let phiK = this.featureMap(k, false, causal); // (B, H, S, M)
    if (keep) phiK = F.mul(phiK, keep); // padded keys contribute nothing
    if (state && !causal)
      throw new Error(`${this.kind} attention: decoding with a state needs causal attention`);
    if (!causal) return { out: mergeHeads(linearAttention(phiQ, phiK, v)), weights: null };
    if (T !== S)
      throw new Error(
        `${this.kind} attention: causal attention needs as many queries as keys, got T ${T} and S ${S}`,
      );
    const r =
      state && T === 1
        ? recurrentLinearStep(phiQ, phiK, v, state.s, state.z) // decoding: one token
        : causalLinearAttention(phiQ, phiK, v, this.chunk, state?.s, state?.z);
    if (state) {
      [state.s, state.z] = [r.s, r.z];
      state.length += T;
    }
    return { out: mergeHeads(r.out), weights: null };
  }
}
