/**
 * Recurrent layers as torch.nn.GRU and torch.nn.LSTM (batch_first=True): what came before
 * the Transformer (Cho et al. 2014; Hochreiter & Schmidhuber 1997; Sutskever et al. 2014),
 * with PyTorch's equations, gate order and parameter names, so weights move between the two.
 *
 * GRU (gate order r, z, n):
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * LSTM (gate order i, f, g, o):
 *   i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
 *   c' = f * c + i * g,  h' = o * tanh(c')
 *
 * The input projections of all time steps are one GEMM; the time loop runs the recurrent
 * product and the gate math per step (the sequential O(T) path the Transformer removes).
 * Sequences of different lengths: a position at or past its sequence's length leaves the
 * state unchanged and outputs zeros, so the final state is that of the last real token, as
 * with PyTorch's packed sequences (the reverse direction then starts at the last real token).
 *
 * Shape letters: B batch, T time, I input width, H hidden width, L layers, K directions (1|2).
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';
import { uniform } from '../nn/layers.js';

/** The recurrent cell: 'gru' (Cho et al. 2014) or 'lstm' (Hochreiter & Schmidhuber 1997). */
export type CellKind = 'gru' | 'lstm';

/** A cell's state: h (B, H), and c (B, H) for an LSTM. */
export interface CellState {
  h: Tensor;
  c: Tensor | null;
}

/** The weights of one layer and direction (PyTorch's weight_ih_lk, weight_hh_lk, biases). */
export interface CellWeights {
  /** (G*H, I), G = 3 (GRU) or 4 (LSTM). */
  wIh: Tensor;
  /** (G*H, H). */
  wHh: Tensor;
  bIh: Tensor;
  bHh: Tensor;
}

/** Gates per cell kind: GRU 3 (r, z, n), LSTM 4 (i, f, g, o). */
export function gateCount(kind: CellKind): number {
  return kind === 'gru' ? 3 : 4;
}

/**
 * One step of a cell, given the input projection of this step: the recurrent GEMM, then the
 * gate math in one fused kernel (F.rnnCell).
 * @param gi (B, G*H) float32: W_ih x + b_ih.
 * @param s the state before the step.
 * @returns the state after it.
 */
export function cellStep(kind: CellKind, gi: Tensor, s: CellState, w: CellWeights): CellState {
  const gh = F.linear(s.h, w.wHh, w.bHh); // (B, G*H)
  if (kind === 'gru') return { h: F.rnnCell('gru', gi, gh, s.h), c: null };
  const H = w.wHh.shape[1];
  const hc = F.rnnCell('lstm', gi, gh, s.c!); // (B, 2H): [h', c']
  return { h: F.slice(hc, 1, 0, H), c: F.slice(hc, 1, H, 2 * H) };
}

/**
 * The same step written with the element-wise ops, line for line with the equations at the
 * top of this file: the readable form, and the oracle of the fused kernel's tests.
 */
export function cellStepReference(
  kind: CellKind,
  gi: Tensor,
  s: CellState,
  w: CellWeights,
): CellState {
  const H = w.wHh.shape[1];
  const gh = F.linear(s.h, w.wHh, w.bHh); // (B, G*H)
  const gate = (t: Tensor, j: number): Tensor => F.slice(t, 1, j * H, (j + 1) * H); // (B, H)
  if (kind === 'gru') {
    const r = F.sigmoid(F.add(gate(gi, 0), gate(gh, 0)));
    const z = F.sigmoid(F.add(gate(gi, 1), gate(gh, 1)));
    const n = F.tanh(F.add(gate(gi, 2), F.mul(r, gate(gh, 2))));
    return { h: F.add(n, F.mul(z, F.sub(s.h, n))), c: null }; // (1 - z) n + z h
  }
  const g = F.add(gi, gh); // (B, 4H)
  const i = F.sigmoid(gate(g, 0));
  const f = F.sigmoid(gate(g, 1));
  const c = F.add(F.mul(f, s.c!), F.mul(i, F.tanh(gate(g, 2))));
  return { h: F.mul(F.sigmoid(gate(g, 3)), F.tanh(c)), c };
}

/** Options of RNN. */
export interface RNNOptions {
  /** 'gru' or 'lstm'. */
  cell: CellKind;
  /** I, the input width. */
  inputSize: number;
  /** H, the hidden width. */
  hiddenSize: number;
  /** L stacked layers (default 1). */
  numLayers?: number;
  /** Run each layer in both directions and concatenate (default false). */
  bidirectional?: boolean;
  /** Dropout on each layer's output except the last (PyTorch's `dropout`), in [0, 1). */
  dropout?: number;
  generator?: Generator;
}

/** What RNN.forward returns. */
export interface RNNOutput {
  /** (B, T, K*H): the last layer's states (zeros past each sequence's length). */
  output: Tensor;
  /** (L*K, B, H): each layer's and direction's final state, index layer * K + direction. */
  hN: Tensor;
  /** (L*K, B, H): LSTM final cell states, else null. */
  cN: Tensor | null;
}

/**
 * A multi-layer, optionally bidirectional GRU or LSTM, as torch.nn.GRU / torch.nn.LSTM with
 * batch_first=True: parameters `weight_ih_l{k}[_reverse]`, `weight_hh_l{k}[_reverse]`,
 * `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]`, initialized U(-1/sqrt(H), 1/sqrt(H)).
 */
export class RNN extends Module {
  readonly cell: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly directions: number;
  readonly dropoutP: number;
  /** weights[layer * K + direction]. */
  readonly weights: CellWeights[] = [];
  private readonly gen: Generator;

  /** @throws Error naming an option that is not a positive integer or a dropout outside [0, 1). */
  constructor(o: RNNOptions) {
    super();
    for (const k of ['inputSize', 'hiddenSize', 'numLayers'] as const) {
      const v = o[k] ?? 1;
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`RNN: ${k} must be an integer >= 1, got ${v}`);
    }
    if (o.cell !== 'gru' && o.cell !== 'lstm')
      throw new Error(`RNN: cell must be 'gru' or 'lstm', got '${String(o.cell)}'`);
    this.cell = o.cell;
    this.inputSize = o.inputSize;
    this.hiddenSize = o.hiddenSize;
    this.numLayers = o.numLayers ?? 1;
    this.directions = o.bidirectional ? 2 : 1;
    this.dropoutP = o.dropout ?? 0;
    if (!(this.dropoutP >= 0 && this.dropoutP < 1))
      throw new Error(`RNN: dropout must be in [0, 1), got ${this.dropoutP}`);
    this.gen = o.generator ?? defaultGenerator;
    const H = this.hiddenSize;
    const G = gateCount(this.cell) * H;
    const bound = 1 / Math.sqrt(H);
    for (let l = 0; l < this.numLayers; l++)
      for (let d = 0; d < this.directions; d++) {
        const inW = l === 0 ? this.inputSize : H * this.directions;
        const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
        const u = (shape: number[]): Tensor => uniform(shape, bound, this.gen);
        this.weights.push({
          wIh: this.param(`weight_ih${sfx}`, u([G, inW])),
          wHh: this.param(`weight_hh${sfx}`, u([G, H])),
          bIh: this.param(`bias_ih${sfx}`, u([G])),
          bHh: this.param(`bias_hh${sfx}`, u([G])),
        });
      }
  }

  /**
   * Run the layers over a batch of sequences.
   * @param x (B, T, I) float32.
   * @param o.lengths each sequence's length in [1, T] (default: all T).
   * @param o.h0 (L*K, B, H) initial states (default zeros); o.c0 likewise for an LSTM.
   * @throws Error naming the shapes when x, h0, c0 or lengths do not match.
   */
  forward(x: Tensor, o: { lengths?: readonly number[]; h0?: Tensor; c0?: Tensor } = {}): RNNOutput {
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize)
      throw new Error(`RNN: input ${fmtShape(x.shape)} must be (B, T, ${this.inputSize})`);
    const [B, T] = x.shape;
    const H = this.hiddenSize;
    const K = this.directions;
    const stateShape = [this.numLayers * K, B, H];
    for (const [name, t] of [
      ['h0', o.h0],
      ['c0', o.c0],
    ] as const)
      if (t && (t.ndim !== 3 || t.shape.some((n, i) => n !== stateShape[i])))
        throw new Error(`RNN: ${name} ${fmtShape(t.shape)} must be ${fmtShape(stateShape)}`);
    const masks = lengthMasks(B, T, o.lengths); // per step (B, 1), or null
    const init = (t: Tensor | undefined, j: number): Tensor =>
      t ? F.reshape(F.slice(t, 0, j, j + 1), [B, H]) : zeros([B, H]);
    let input = x;
    const hN: Tensor[] = [];
    const cN: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < K; d++) {
        const j = l * K + d;
        const w = this.weights[j];
        const gi = F.linear(input, w.wIh, w.bIh); // (B, T, G*H): all steps in one GEMM
        let s: CellState = { h: init(o.h0, j), c: this.cell === 'lstm' ? init(o.c0, j) : null };
        const steps: Tensor[] = new Array<Tensor>(T);
        for (let n = 0; n < T; n++) {
          const t = d === 0 ? n : T - 1 - n;
          const git = F.reshape(F.slice(gi, 1, t, t + 1), [B, gi.shape[2]]); // (B, G*H)
          const next = cellStep(this.cell, git, s, w);
          const m = masks?.[t];
          s = m ? keepPast(s, next, m) : next;
          steps[t] = F.reshape(m ? F.mul(next.h, m) : next.h, [B, 1, H]);
        }
        outs.push(F.concat(steps, 1)); // (B, T, H)
        hN.push(s.h);
        if (s.c) cN.push(s.c);
      }
      input = K === 1 ? outs[0] : F.concat(outs, 2); // (B, T, K*H)
      if (l < this.numLayers - 1 && this.dropoutP > 0 && this.training)
        input = F.dropout(input, this.dropoutP, true, this.gen);
    }
    return {
      output: input,
      hN: F.stack(hN, 0), // (L*K, B, H)
      cN: cN.length > 0 ? F.stack(cN, 0) : null,
    };
  }
  /**
   * One time step of a unidirectional stack (a decoder's step).
   * @param x (B, I) float32 this step's input.
   * @param states one state per layer (h, and c for an LSTM), each (B, H).
   * @returns the layers' new states; the last layer's h is the step's output.
   * @throws Error if the RNN is bidirectional or the state count differs from the layers.
   */
  step(x: Tensor, states: readonly CellState[]): CellState[] {
    if (this.directions !== 1) throw new Error('RNN.step: a bidirectional RNN cannot step');
    if (states.length !== this.numLayers)
      throw new Error(`RNN.step: ${states.length} states for ${this.numLayers} layers`);
    const out: CellState[] = [];
    let input = x;
    for (let l = 0; l < this.numLayers; l++) {
      const w = this.weights[l];
      const s = cellStep(this.cell, F.linear(input, w.wIh, w.bIh), states[l], w);
      out.push(s);
      input = s.h;
      if (l < this.numLayers - 1 && this.dropoutP > 0 && this.training)
        input = F.dropout(input, this.dropoutP, true, this.gen);
    }
    return out;
  }
}

/** Per step t, a (B, 1) float mask: 1 where t < lengths[b]; null when every length is T. */
function lengthMasks(B: number, T: number, lengths?: readonly number[]): Tensor[] | null {
  if (!lengths) return null;
  if (lengths.length !== B) throw new Error(`RNN: ${lengths.length} lengths for a batch of ${B}`);
  for (const n of lengths)
    if (!Number.isInteger(n) || n < 1 || n > T)
      throw new Error(`RNN: length ${n} outside [1, ${T}]`);
  if (lengths.every((n) => n === T)) return null;
  return Array.from({ length: T }, (_, t) => {
    const m = new Float32Array(B);
    for (let b = 0; b < B; b++) m[b] = t < lengths[b] ? 1 : 0;
    return new Tensor(m, [B, 1]);
  });
}

/** prev + m (next - prev): the new state where m is 1, the old one where m is 0. */
function keepPast(prev: CellState, next: CellState, m: Tensor): CellState {
  const mix = (a: Tensor, b: Tensor): Tensor => F.add(a, F.mul(F.sub(b, a), m));
  return { h: mix(prev.h, next.h), c: prev.c && next.c ? mix(prev.c, next.c) : null };
}
