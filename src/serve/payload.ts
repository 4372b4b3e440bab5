/**
 * The JSON the page draws: attention sections (one map per layer and head, weights as plain
 * numbers), the positional-encoding table beside them (Vaswani et al. 2017, Sec. 3.5: the
 * sinusoid, or the model's learned table) and the attention mask of the model's
 * self-attention (Sec. 3.2.3: causal for a decoder; none for an encoder).
 *
 * Shape letters: T rows (queries), S cols (keys), P positions, C d_model.
 */
import { sinusoidTable } from '../nn/positional.js';
import type { AttentionSection } from '../viz/index.js';
import type { NeuralModel } from '../tasks/load.js';

/** A (rows, cols) table of numbers, row-major. */
export interface Grid {
  title: string;
  rows: number;
  cols: number;
  values: number[];
}

/** One head's map. */
export interface HeadMap extends Grid {
  /** 1-based layer and head (0 for an RNN alignment, which has neither). */
  layer: number;
  head: number;
}

/** What POST /api/attention returns besides the model name. */
export interface AttentionPayload {
  task: NeuralModel['task'];
  sections: { name: string; rowTokens: string[]; colTokens: string[]; maps: HeadMap[] }[];
  positional: Grid | null;
  mask: Grid;
}

/** Fewest positions of the table drawn (enough to see the slow sinusoids turn). */
const MIN_PE_POSITIONS = 48;

/** Most dimensions of the positional table sent (the first ones: the fastest sinusoids). */
const MAX_PE_DIMS = 128;

/** `v` rounded to 4 decimals (the page shows 3; JSON stays small). */
const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/**
 * The payload of `sections` computed for `m`.
 * @param sections from attentionSections(m, ...)
 */
export function attentionPayload(m: NeuralModel, sections: AttentionSection[]): AttentionPayload {
  const out = sections.map((s) => ({
    name: s.name,
    rowTokens: s.rowTokens,
    colTokens: s.colTokens,
    maps: s.maps.map((map) => {
      const [, layer, head] = /layer (\d+) head (\d+)/.exec(map.title) ?? ['', '0', '0'];
      return {
        title: map.title,
        layer: Number(layer),
        head: Number(head),
        rows: map.rows,
        cols: map.cols,
        values: Array.from(map.weights, round4),
      };
    }),
  }));
  const first = sections[0];
  const causal = m.task !== 'classify' && !first.name.includes('alignment');
  const self = m.task === 'translate' && out.length > 1 ? out[1] : out[0]; // decoder self-attn
  return {
    task: m.task,
    sections: out,
    positional: positionalGrid(m, Math.max(self.rowTokens.length, MIN_PE_POSITIONS)),
    mask: maskGrid(self.rowTokens.length, causal),
  };
}

/**
 * Mask of a self-attention over T tokens: 1 where attention is not allowed (a key after the
 * query when causal), 0 elsewhere, as PyTorch's bool masks read.
 */
export function maskGrid(T: number, causal: boolean): Grid {
  const values = new Array<number>(T * T).fill(0);
  if (causal) for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = 1;
  return {
    title: causal
      ? `causal mask (${T} x ${T}): query i sees keys j <= i`
      : `no mask (${T} x ${T}): every token sees every token`,
    rows: T,
    cols: T,
    values,
  };
}

/**
 * The model's absolute positional encoding for P positions (at most MAX_PE_DIMS dimensions):
 * the learned table when config.position is 'learned', else the sinusoid of Sec. 3.5
 * (titled as a comparison when the model uses relative positions); null for RNNs.
 */
export function positionalGrid(m: NeuralModel, P: number): Grid | null {
  const config = m.model.config as { dModel?: number; position?: string };
  const C = config.dModel;
  if (C === undefined) return null; // an RNN encoder-decoder: no positions
  const position = config.position ?? 'sinusoidal';
  const D = Math.min(C, MAX_PE_DIMS);
  let table: Float32Array | null = null;
  if (position === 'learned') {
    const p = m.model
      .namedParameters()
      .find(([n, t]) => /(wpe|pos)[^.]*\.weight$/.test(n) && t.ndim === 2 && t.shape[1] === C);
    if (p) table = p[1].f32;
  }
  const learned = table !== null;
  const rows = learned ? Math.min(P, table!.length / C) : P;
  if (!learned) table = sinusoidTable(rows, C).f32;
  const values: number[] = [];
  for (let i = 0; i < rows; i++) for (let d = 0; d < D; d++) values.push(round4(table![i * C + d]));
  const what = learned
    ? 'learned positional embedding'
    : position === 'sinusoidal'
      ? 'sinusoidal positional encoding (Sec. 3.5)'
      : `the paper's sinusoid for comparison (this model: ${position})`;
  return { title: `${what}: ${rows} positions x ${D} of ${C} dims`, rows, cols: D, values };
}

/** A classification answer: the best label (the lowest class on ties), its score, every score. */
export interface Prediction {
  label: string;
  score: number;
  scores: Record<string, number>;
}

/**
 * The prediction of one text from its class probabilities.
 * @param probs (K) softmax probabilities in the order of `labels` (classProbabilities)
 */
export function prediction(labels: readonly string[], probs: Float32Array): Prediction {
  let best = 0;
  for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
  const scores = Object.fromEntries(labels.map((l, k) => [l, probs[k]]));
  return { label: labels[best], score: probs[best], scores };
}
