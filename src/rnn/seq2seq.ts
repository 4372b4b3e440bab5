/**
 * The RNN encoder-decoder our tutorials start from, in two forms:
 *
 * - `attention: 'none'`: the fixed-length context vector (Sutskever et al. 2014; Cho et al.
 *   2014). The encoder reads the source; its final state c (both directions' when
 *   bidirectional) is the ONLY thing the decoder knows of it: the decoder starts from
 *   tanh(W_b c) and reads c again at every step (Cho et al. 2014, Sec. 2.2).
 * - `attention: 'bahdanau' | 'dot' | 'general'`: the decoder attends all encoder states
 *   (src/rnn/alignment.ts). Bahdanau et al. 2015 score with the previous decoder state and
 *   feed the context into the cell; Luong et al. 2015 score with the new state and feed the
 *   attentional hidden state h~ = tanh(W_c [c; s]) into the next step ("input feeding").
 *
 * Every variant outputs, per target position, the hidden state tanh(W_o [s_t; c_t]) that
 * `project` maps to logits, and follows the encoder-decoder interface of the Transformer
 * (`encode`, `decode` with a decoding state, `project`, `newCaches`), so the same training
 * task, greedy decoding and beam search run it. Teacher forcing by default; scheduled
 * sampling (Bengio et al. 2015) through `forward`'s `samplingProb`.
 *
 * Shape letters: B batch, S source length, T target length, H hidden width, K encoder
 * directions, E = K*H encoder state width, V target vocabulary.
 */
import { noGrad } from '../autograd.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';
import { Dropout, Embedding, Linear } from '../nn/layers.js';
import { paddingMask } from '../models/padding.js';
import { selectRows0 } from '../attention/state.js';
import type { AttentionState } from '../attention/core.js';
import { RNN, type CellKind, type CellState } from './recurrent.js';
import { Alignment, type AlignmentScore } from './alignment.js';

export interface RNNSeq2SeqConfig {
  srcVocabSize: number;
  tgtVocabSize: number;
  /** 'gru' (default) or 'lstm'. */
  cell?: CellKind;
  /** H, the hidden width of encoder and decoder. */
  hiddenSize: number;
  /** Token embedding width (default H). */
  embedDim?: number;
  /** Layers of encoder and of decoder (default 1). */
  numLayers?: number;
  /** Bidirectional encoder (default false). */
  bidirectional?: boolean;
  /** 'none' (the fixed context vector, default) or the attention score. */
  attention?: 'none' | AlignmentScore;
  /** Luong's local-p window D (0 = global attention, default). */
  window?: number;
  /** Dropout on embeddings, between layers and on the output hidden state (default 0.1). */
  dropout?: number;
  padId?: number;
  /** Longest target decoding may produce (default 512). */
  maxLen?: number;
}

/**
 * The decoder's state between calls: each layer's (h, c), what the next step's cell reads
 * beside the token (the fixed context, Bahdanau's context or Luong's h~), and the prepared
 * attention keys of the source.
 */
export class RNNDecoderState implements AttentionState {
  layers: CellState[] | null = null;
  /** (B, width) the next step's extra input. */
  feed: Tensor | null = null;
  /** (B, E) the fixed context (attention 'none'). */
  context: Tensor | null = null;
  /** (B, S, E) keys for the alignment scores. */
  keys: Tensor | null = null;
  length = 0;
  selectRows(idx: readonly number[]): void {
    const sel = (t: Tensor | null): Tensor | null => (t ? selectRows0(t, idx) : null);
    if (this.layers) this.layers = this.layers.map((s) => ({ h: sel(s.h)!, c: sel(s.c) }));
    this.feed = sel(this.feed);
    this.context = sel(this.context);
    this.keys = sel(this.keys);
  }
}

/** The cross-attention slot of the Transformer's decoder cache: nothing to keep here. */
const NO_STATE: AttentionState = { length: 0, selectRows: () => {} };

export class RNNSeq2Seq extends Module {
  readonly config: Required<RNNSeq2SeqConfig>;
  readonly srcEmb: Embedding;
  readonly tgtEmb: Embedding;
  readonly encoder: RNN;
  readonly decoder: RNN;
  readonly bridge: Linear;
  readonly alignment: Alignment | null;
  readonly out: Linear;
  readonly generator: Linear;
  readonly drop: Dropout;
  /** Keep the alignment weights of the next decode calls in `alignments` (for display). */
  recordAlignment = false;
  /** Per decoded step, the (B, S) weights (when recordAlignment). */
  alignments: Tensor[] = [];
  private readonly gen: Generator;

  /** @throws Error naming an option out of range (from the layers it builds). */
  constructor(config: RNNSeq2SeqConfig, gen: Generator = defaultGenerator) {
    super();
    const c: Required<RNNSeq2SeqConfig> = {
      cell: 'gru',
      embedDim: config.hiddenSize,
      numLayers: 1,
      bidirectional: false,
      attention: 'none',
      window: 0,
      dropout: 0.1,
      padId: 0,
      maxLen: 512,
      ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
    } as Required<RNNSeq2SeqConfig>;
    if (!['none', 'bahdanau', 'dot', 'general'].includes(c.attention))
      throw new Error(
        `RNNSeq2Seq: attention must be none, bahdanau, dot or general, got '${c.attention}'`,
      );
    if (c.attention === 'none' && c.window > 0)
      throw new Error('RNNSeq2Seq: window (local-p) needs an attention score');
    this.config = c;
    this.gen = gen;
    const H = c.hiddenSize;
    const E = (c.bidirectional ? 2 : 1) * H;
    const g = { generator: gen };
    this.srcEmb = this.child('src_emb', new Embedding(c.srcVocabSize, c.embedDim, g));
    this.tgtEmb = this.child('tgt_emb', new Embedding(c.tgtVocabSize, c.embedDim, g));
    const rnn = { cell: c.cell, hiddenSize: H, numLayers: c.numLayers, dropout: c.dropout };
    this.encoder = this.child(
      'encoder',
      new RNN({ ...rnn, inputSize: c.embedDim, bidirectional: c.bidirectional, generator: gen }),
    );
    const luong = c.attention === 'dot' || c.attention === 'general';
    const feedWidth = luong ? H : E;
    this.decoder = this.child(
      'decoder',
      new RNN({ ...rnn, inputSize: c.embedDim + feedWidth, generator: gen }),
    );
    this.bridge = this.child('bridge', new Linear(E, H, g));
    this.alignment =
      c.attention === 'none'
        ? null
        : this.child(
            'attention',
            new Alignment({
              score: c.attention,
              queryDim: H,
              memoryDim: E,
              window: c.window,
              generator: gen,
            }),
          );
    this.out = this.child('out', new Linear(H + E, H, g));
    this.generator = this.child('generator', new Linear(H, c.tgtVocabSize, g));
    this.drop = this.child('dropout', new Dropout(c.dropout, gen));
  }

  /**
   * Encode source ids.
   * @param src (B, S) int32, padded with padId at the end.
   * @returns memory (B, S, E) the encoder states, srcPadMask (B, S) bool.
   * @throws Error if src is not (B, S) int32 or a source is all padding.
   */
  encode(src: Tensor): { memory: Tensor; srcPadMask: Tensor } {
    if (src.ndim !== 2 || src.dtype !== 'int32')
      throw new Error(`encode: src must be (B, S) int32, got ${src.dtype} ${fmtShape(src.shape)}`);
    const srcPadMask = paddingMask(src, this.config.padId);
    const lengths = sourceLengths(srcPadMask);
    const x = this.drop.forward(this.srcEmb.forward(src)); // (B, S, D)
    return { memory: this.encoder.forward(x, { lengths }).output, srcPadMask };
  }

  /**
   * The fixed-length summary of each source: the forward direction's state at its last token
   * and (bidirectional) the backward direction's at its first, i.e. the last layer's final
   * states. @returns (B, E)
   */
  summary(memory: Tensor, srcPadMask: Tensor): Tensor {
    const [B, S, E] = memory.shape;
    const H = this.config.hiddenSize;
    const lengths = sourceLengths(srcPadMask);
    const last = new Float32Array(B * S);
    for (let b = 0; b < B; b++) last[b * S + lengths[b] - 1] = 1;
    const fwd = F.sum(F.mul(F.slice(memory, 2, 0, H), new Tensor(last, [B, S, 1])), 1); // (B, H)
    if (E === H) return fwd;
    const bwd = F.reshape(F.slice(F.slice(memory, 2, H, E), 1, 0, 1), [B, H]); // (B, H)
    return F.concat([fwd, bwd], 1); // (B, E)
  }

  /** Fresh decoding states (one entry, the Transformer decoder's cache layout). */
  newCaches(): { self: RNNDecoderState; cross: AttentionState }[] {
    return [{ self: new RNNDecoderState(), cross: NO_STATE }];
  }

  /**
   * Run the decoder over target ids (teacher forcing), continuing a decoding state if given.
   * @param tgt (B, T) int32 (the new positions only when caches are given).
   * @param memory (B, S, E) and srcPadMask (B, S) from `encode`.
   * @param offset unused (the state knows its position); for the Transformer's interface.
   * @returns hidden states (B, T, H) for `project`.
   */
  decode(
    tgt: Tensor,
    memory: Tensor,
    srcPadMask: Tensor | null,
    caches?: { self: AttentionState }[],
    offset = 0,
    sampling?: { p: number; generator: Generator },
  ): Tensor {
    void offset;
    if (tgt.ndim !== 2 || tgt.dtype !== 'int32' || tgt.shape[0] !== memory.shape[0])
      throw new Error(
        `decode: tgt must be (B, T) int32 with B = ${memory.shape[0]}, got ${tgt.dtype} ${fmtShape(tgt.shape)}`,
      );
    const [B, T] = tgt.shape;
    const pad = srcPadMask ?? zeros([B, memory.shape[1]], 'bool');
    const st = (caches?.[0]?.self as RNNDecoderState | undefined) ?? new RNNDecoderState();
    if (!st.layers) this.initState(st, memory, pad);
    const lengths = sourceLengths(pad);
    const top = this.config.numLayers - 1;
    const kind = this.config.attention;
    const hiddens: Tensor[] = [];
    let prevHidden: Tensor | null = null;
    for (let t = 0; t < T; t++) {
      const ids = stepIds(tgt, t, prevHidden, sampling, (h) => this.project(h));
      const e = this.drop.forward(F.reshape(this.tgtEmb.forward(ids), [B, -1])); // (B, D)
      if (kind === 'bahdanau') st.feed = this.attend(st.layers![top].h, memory, st, pad, lengths);
      st.layers = this.decoder.step(F.concat([e, st.feed!], 1), st.layers!);
      const s = st.layers[top].h; // (B, H)
      const ctx =
        kind === 'none'
          ? st.context!
          : kind === 'bahdanau'
            ? st.feed!
            : this.attend(s, memory, st, pad, lengths);
      const hid = F.tanh(this.out.forward(F.concat([s, ctx], 1))); // (B, H)
      if (kind === 'dot' || kind === 'general') st.feed = hid; // input feeding
      prevHidden = hid;
      hiddens.push(F.reshape(hid, [B, 1, -1]));
    }
    st.length += T;
    return this.drop.forward(F.concat(hiddens, 1)); // (B, T, H)
  }

  /** Logits over the target vocabulary: (..., H) -> (..., V). */
  project(hidden: Tensor): Tensor {
    return this.generator.forward(hidden);
  }

  /**
   * Logits for every target position.
   * @param src (B, S) int32; tgt (B, T) int32 (the decoder input, starting with bos).
   * @param o.samplingProb scheduled sampling's epsilon (Bengio et al. 2015): in training,
   *   each row's input at step t >= 1 is, with this probability, a token sampled from the
   *   model's own distribution at step t - 1 instead of the gold token (no gradient through
   *   the choice). 0 = teacher forcing.
   * @returns logits (B, T, V)
   */
  forward(
    src: Tensor,
    tgt: Tensor,
    o: { samplingProb?: number; generator?: Generator } = {},
  ): Tensor {
    const { memory, srcPadMask } = this.encode(src);
    const p = o.samplingProb ?? 0;
    if (!(p >= 0 && p <= 1)) throw new Error(`forward: samplingProb must be in [0, 1], got ${p}`);
    const sampling = p > 0 && this.training ? { p, generator: o.generator ?? this.gen } : undefined;
    return this.project(this.decode(tgt, memory, srcPadMask, undefined, 0, sampling));
  }

  private initState(st: RNNDecoderState, memory: Tensor, pad: Tensor): void {
    const B = memory.shape[0];
    const H = this.config.hiddenSize;
    const c = this.summary(memory, pad); // (B, E)
    const s0 = F.tanh(this.bridge.forward(c)); // (B, H)
    const lstm = this.config.cell === 'lstm';
    st.layers = Array.from({ length: this.config.numLayers }, () => ({
      h: s0,
      c: lstm ? zeros([B, H]) : null,
    }));
    const kind = this.config.attention;
    st.context = kind === 'none' ? c : null;
    st.feed = kind === 'none' ? c : kind === 'bahdanau' ? null : zeros([B, H]);
    st.keys = this.alignment ? this.alignment.prepare(memory) : null;
  }

  private attend(
    query: Tensor,
    memory: Tensor,
    st: RNNDecoderState,
    pad: Tensor,
    lengths: number[],
  ): Tensor {
    const r = this.alignment!.forward(query, memory, st.keys!, pad, lengths);
    if (this.recordAlignment) this.alignments.push(r.weights);
    return r.context;
  }
}

/** Each row's count of non-padding positions. @throws Error for an all-padding row. */
function sourceLengths(padMask: Tensor): number[] {
  const [B, S] = padMask.shape;
  return Array.from({ length: B }, (_, b) => {
    let n = 0;
    for (let s = 0; s < S; s++) if (!padMask.data[b * S + s]) n = s + 1;
    if (n === 0) throw new Error(`RNNSeq2Seq: source ${b} is all padding`);
    return n;
  });
}

/**
 * The ids fed at step t: the gold column, or under scheduled sampling, per row with
 * probability p, a token sampled from the previous step's distribution. @returns (B, 1) int32
 */
function stepIds(
  tgt: Tensor,
  t: number,
  prevHidden: Tensor | null,
  sampling: { p: number; generator: Generator } | undefined,
  project: (h: Tensor) => Tensor,
): Tensor {
  const [B, T] = tgt.shape;
  const ids = new Int32Array(B);
  for (let b = 0; b < B; b++) ids[b] = tgt.i32[b * T + t];
  if (sampling && prevHidden && t > 0) {
    const probs = noGrad(() => F.softmax(project(prevHidden), -1)).f32; // (B, V)
    const V = probs.length / B;
    for (let b = 0; b < B; b++) {
      if (sampling.generator.uniform() >= sampling.p) continue;
      let u = sampling.generator.uniform();
      let k = 0;
      for (; k < V - 1; k++) {
        u -= probs[b * V + k];
        if (u < 0) break;
      }
      ids[b] = k;
    }
  }
  return new Tensor(ids, [B, 1]);
}
