/**
 * The synthetic measurements of docs/before-transformer.md (used by
 * scripts/report-before-transformer.ts):
 *
 * - layerTimes: one training step (forward + backward) of a single GRU layer, LSTM layer,
 *   self-attention sublayer (MultiheadAttention with its projections) and Transformer encoder
 *   layer on (B, T, d) inputs, as T grows: the recurrent layers take T sequential steps, the
 *   attention layers O(1) (Vaswani et al. 2017, Sec. 4, Table 1);
 * - forwardFlops: the multiply-add count of each layer's forward pass (2 FLOPs per
 *   multiply-add, matrix products only);
 * - copyProbe: a copy task (source n random symbols, target the same n symbols) trained for a
 *   fixed time per architecture, then greedy accuracy against n. Output token i depends on
 *   source token i, which lies n positions back in the stream source-then-target (n - i source
 *   tokens after it, i - 1 outputs before it, plus itself): accuracy against n is accuracy
 *   against the distance of the dependency. The fixed-vector RNN must carry all n symbols in
 *   one state (Cho et al. 2014, Sec. 4; Bahdanau et al. 2015, Fig. 2).
 *
 * Shape letters: B batch, T sequence length, d model width, n copy length.
 */
import { Generator } from '../src/random.js';
import { StepArena, randn, type Tensor } from '../src/tensor.js';
import * as F from '../src/ops/index.js';
import { noGrad } from '../src/autograd.js';
import { RNN } from '../src/rnn/recurrent.js';
import { MultiheadAttention } from '../src/nn/attention.js';
import { TransformerEncoderLayer } from '../src/nn/transformer-layers.js';
import type { Module } from '../src/nn/module.js';
import { makeSeq2SeqBatch } from '../src/data/index.js';
import { greedyDecode, type Seq2SeqModel } from '../src/decode/seq2seq.js';
import type { TrainTask } from '../src/train/trainer.js';

/** The layers timed: name and the module's forward on (B, T, d). */
export const TIMED_LAYERS = ['GRU', 'LSTM', 'self-attention', 'encoder layer'] as const;
export type TimedLayer = (typeof TIMED_LAYERS)[number];

/**
 * Forward FLOPs (2 per multiply-add, matrix products only) of one layer on B sequences of
 * length T, width d (Vaswani et al. 2017, Table 1 with the constants): GRU 2*3*(d*d + d*d)
 * per token, LSTM 2*4*(2 d^2), self-attention 4 projections 2*4*T*d^2 plus QK^T and AV
 * 2*2*T^2*d, the encoder layer that plus the FFN (d_ff = 4d) 2*2*T*d*4d.
 */
export function forwardFlops(layer: TimedLayer, B: number, T: number, d: number): number {
  const attention = 8 * T * d * d + 4 * T * T * d;
  const perLayer: Record<TimedLayer, number> = {
    GRU: 12 * T * d * d,
    LSTM: 16 * T * d * d,
    'self-attention': attention,
    'encoder layer': attention + 16 * T * d * d,
  };
  return B * perLayer[layer];
}

function buildLayer(
  layer: TimedLayer,
  d: number,
  gen: Generator,
): { m: Module; run: (x: Tensor) => Tensor } {
  if (layer === 'GRU' || layer === 'LSTM') {
    const m = new RNN({
      cell: layer === 'GRU' ? 'gru' : 'lstm',
      inputSize: d,
      hiddenSize: d,
      generator: gen,
    });
    return { m, run: (x) => m.forward(x).output };
  }
  if (layer === 'self-attention') {
    const m = new MultiheadAttention(d, 4, { generator: gen, kind: 'self' });
    return { m, run: (x) => m.forward(x, x, x).out };
  }
  const m = new TransformerEncoderLayer(d, 4, {
    dimFeedforward: 4 * d,
    dropout: 0,
    generator: gen,
  });
  return { m, run: (x) => m.forward(x) };
}

/**
 * Seconds of one forward + backward step of `layer` on (B, T, d): the fastest of `reps` timed
 * after one warm-up step (on a shared machine the least disturbed), each step in a StepArena.
 */
export function layerStepSeconds(
  layer: TimedLayer,
  B: number,
  T: number,
  d: number,
  reps: number,
): number {
  const gen = new Generator(7);
  const { m, run } = buildLayer(layer, d, gen);
  m.train();
  const x = randn([B, T, d], gen);
  const arena = new StepArena();
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    arena.run(() => {
      for (const p of m.parameters()) p.grad = null;
      const y = run(x); // (B, T, d)
      F.mean(F.mul(y, y)).backward();
      return 0;
    });
    if (r > 0) times.push((performance.now() - t0) / 1000);
  }
  return Math.min(...times);
}

/** Token ids of the copy task: 0 pad, 1 bos, 2 eos, symbols 3 .. 3 + symbols - 1. */
export const COPY_IDS = { padId: 0, bosId: 1, eosId: 2 };

/** n random symbols. */
function randomSymbols(n: number, symbols: number, gen: Generator): number[] {
  return Array.from({ length: n }, () => 3 + gen.randint(symbols));
}

/**
 * A TrainTask for the copy task: step s's batch (B pairs, lengths uniform in 1..maxLen) is drawn
 * from a generator seeded by (seed, s); validation is a fixed set of 64 pairs.
 */
export function copyTask(
  model: Module & { forward(src: Tensor, tgt: Tensor): Tensor },
  o: { symbols: number; maxLen: number; batch: number; seed: number; vocab: number },
): TrainTask {
  const draw = (gen: Generator, count: number): { src: number[]; tgt: number[] }[] =>
    Array.from({ length: count }, () => {
      const s = randomSymbols(1 + gen.randint(o.maxLen), o.symbols, gen);
      return { src: s, tgt: s };
    });
  const lossOf = (pairs: { src: number[]; tgt: number[] }[]): { loss: Tensor; tokens: number } => {
    const b = makeSeq2SeqBatch(pairs, COPY_IDS);
    const logits = model.forward(b.src, b.tgtIn); // (B, T, V)
    const loss = F.crossEntropy(F.reshape(logits, [-1, o.vocab]), F.reshape(b.tgtOut, [-1]), {
      ignoreIndex: COPY_IDS.padId,
    });
    return { loss, tokens: b.ntokens };
  };
  const valid = draw(new Generator(o.seed + 1), 64);
  return {
    model,
    loss: (step) => lossOf(draw(new Generator(o.seed * 100003 + step), o.batch)),
    evaluate: () => {
      model.eval();
      const v = noGrad(() => lossOf(valid).loss.item());
      model.train();
      return v;
    },
  };
}

/**
 * Greedy copy accuracy at each length n: per-token (output position i right, a missing token
 * wrong) and whole-sequence, over `count` random sources per n.
 */
export function copyAccuracy(
  model: Seq2SeqModel,
  lengths: readonly number[],
  o: { symbols: number; count: number; seed: number },
): { n: number; token: number; sequence: number }[] {
  return lengths.map((n) => {
    const gen = new Generator(o.seed * 31 + n);
    const srcs = Array.from({ length: o.count }, () => randomSymbols(n, o.symbols, gen));
    const b = makeSeq2SeqBatch(
      srcs.map((s) => ({ src: s, tgt: [] })),
      COPY_IDS,
    );
    const outs = greedyDecode(model, b.src, { ...COPY_IDS, maxLen: n + 1 });
    let hits = 0;
    let exact = 0;
    outs.forEach((out, k) => {
      const right = srcs[k].filter((x, i) => out[i] === x).length;
      hits += right;
      if (right === n && out.length === n) exact++;
    });
    return { n, token: hits / (n * o.count), sequence: exact / o.count };
  });
}
