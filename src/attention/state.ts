/**
 * The dense decoding state: the keys and values of the positions seen so far, as full and
 * windowed attention keep them for incremental decoding (a "KV cache").
 *
 * Shape letters: B batch, H heads, R rows of capacity, D head width.
 */
import { isGradEnabled } from '../autograd.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { AttentionCore, headsToBHLD, type AttentionState, type CoreInput } from './core.js';

/**
 * Copy rows of dim 0 (no autograd): out[i] = t[idx[i]], like torch.index_select(t, 0, idx).
 * @param t (N, ...) any dtype
 * @param idx row indices in [0, N), repeats allowed
 * @returns (idx.length, ...) same dtype, new storage
 * @throws Error if t is a scalar or an index is out of range.
 */
export function selectRows0(t: Tensor, idx: readonly number[]): Tensor {
  if (t.ndim === 0) throw new Error('selectRows: expected at least one dimension');
  const n = t.shape[0];
  const row = n === 0 ? 0 : t.size / n;
  const Ctor = t.data.constructor as new (len: number) => typeof t.data;
  const out = new Ctor(idx.length * row);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i];
    if (!Number.isInteger(r) || r < 0 || r >= n)
      throw new Error(`selectRows: index ${r} out of range for ${fmtShape(t.shape)}`);
    out.set(t.data.subarray(r * row, (r + 1) * row), i * row);
  }
  return new Tensor(out, [idx.length, ...t.shape.slice(1)]);
}

/**
 * Keys and values (B, H, R, D) of the positions [start, start + rows) in their first
 * `rows` rows. Without gradient (decoding) they grow in place in buffers with room to spare
 * (capacity doubling), so a step costs O(1) copies, not O(S); with gradient on, the rows are
 * concatenated differentiably (exactly `rows` rows).
 */
export class KVState implements AttentionState {
  /** (B, H, R, D) with R >= rows, or null before the first append. */
  k: Tensor | null = null;
  v: Tensor | null = null;
  /** Rows of k and v in use. */
  rows = 0;
  /** Absolute position of row 0 (> 0 once a windowed core has dropped old rows). */
  start = 0;

  get length(): number {
    return this.start + this.rows;
  }

  /**
   * Append this step's keys and values.
   * @param k (B, H, T, D) float32; v likewise.
   * @throws Error when the batch, heads or width differ from the rows held.
   */
  append(k: Tensor, v: Tensor): void {
    const [B, H, T, D] = k.shape;
    if (this.k && (this.k.shape[0] !== B || this.k.shape[1] !== H || this.k.shape[3] !== D))
      throw new Error(
        `KVState: keys ${fmtShape(k.shape)} do not match the state's ${fmtShape(this.k.shape)}`,
      );
    if (isGradEnabled() && (k.requiresGrad || v.requiresGrad || this.k?.requiresGrad)) {
      const [pk, pv] = this.valid();
      this.k = pk ? F.concat([pk, k], 2) : k; // (B, H, rows + T, D), differentiable
      this.v = pv ? F.concat([pv, v], 2) : v;
      this.rows += T;
      return;
    }
    const S0 = this.rows;
    const S = S0 + T;
    let R = this.k ? this.k.shape[2] : 0;
    if (!this.k || R < S) {
      const R2 = Math.max(S, 2 * R, 16);
      const grow = (old: Tensor | null): Tensor => {
        const t = zeros([B, H, R2, D]);
        if (old)
          for (let bh = 0; bh < B * H; bh++)
            t.f32.set(old.f32.subarray(bh * R * D, (bh * R + S0) * D), bh * R2 * D);
        return t;
      };
      this.k = grow(this.k);
      this.v = grow(this.v);
      R = R2;
    }
    const kd = this.k.f32;
    const vd = this.v!.f32;
    for (let bh = 0; bh < B * H; bh++) {
      kd.set(k.f32.subarray(bh * T * D, (bh + 1) * T * D), (bh * R + S0) * D);
      vd.set(v.f32.subarray(bh * T * D, (bh + 1) * T * D), (bh * R + S0) * D);
    }
    this.rows = S;
  }

  /** The rows in use as dense (B, H, rows, D) tensors (a slice when the buffers have spare room). */
  valid(): [Tensor | null, Tensor | null] {
    if (!this.k || !this.v) return [null, null];
    if (this.k.shape[2] === this.rows) return [this.k, this.v];
    return [F.slice(this.k, 2, 0, this.rows), F.slice(this.v, 2, 0, this.rows)];
  }

  /**
   * Forget the rows of positions before `pos` (a window that has moved on), in place.
   * Only without gradient.
   */
  dropBefore(pos: number): void {
    const drop = Math.min(pos - this.start, this.rows);
    if (drop <= 0 || !this.k || !this.v) return;
    const [B, H, R, D] = this.k.shape;
    const keep = this.rows - drop;
    for (const t of [this.k.f32, this.v.f32])
      for (let bh = 0; bh < B * H; bh++)
        t.copyWithin(bh * R * D, (bh * R + drop) * D, (bh * R + this.rows) * D);
    this.rows = keep;
    this.start += drop;
  }

  selectRows(idx: readonly number[]): void {
    if (this.k) this.k = selectRows0(this.k, idx); // (N', H, R, D)
    if (this.v) this.v = selectRows0(this.v, idx);
  }
}

/**
 * The input's heads as (B, H, L, D) float32 tensors; with a state, the keys and values are
 * appended to it first and k, v are all of its rows (B, H, S_total, D).
 */
export function headsOverState(
  input: CoreInput,
  state: KVState | null | undefined,
  H: number,
  D: number,
): [Tensor, Tensor, Tensor] {
  const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
  const k = headsToBHLD(input.k, H, D); // (B, H, S, D)
  const v = headsToBHLD(input.v, H, D);
  if (!state) return [q, k, v];
  state.append(k, v);
  return [q, ...(state.valid() as [Tensor, Tensor])];
}

/**
 * A core that decodes with a KVState and runs causally or not (full attention and the
 * variants that keep every key they may attend).
 */
export abstract class KVAttentionCore extends AttentionCore<KVState> {
  readonly supportsCausal: boolean = true;
  readonly supportsNonCausal: boolean = true;
  newState(): KVState {
    return new KVState();
  }

  /**
   * Decoding's first step: the keys and values appended to `state`.
   * @returns the queries as (B, H, T, D) float32.
   * @throws Error when the call is not causal (a state only serves causal decoding).
   */
  protected appendCausal(input: CoreInput, state: KVState): Tensor {
    if (!input.causal)
      throw new Error(`${this.kind} attention: decoding with a state needs causal attention`);
    const [q, k, v] = this.splitHeads(input); // (B, H, T, D), (B, H, T, D) twice
    state.append(k, v);
    return q;
  }
}
