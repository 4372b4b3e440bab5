/**
 * Case 2, seq2seq-train: one Adam step (lr 1e-4) of a 3 + 3-layer encoder-decoder
 * (Seq2SeqTransformer: d_model 256, 8 heads, d_ff 512, source and target vocabularies
 * 8000, post-LN, ReLU, dropout 0.1, generator tied to the target embedding), batch 32,
 * source and target length 24, cross-entropy with label smoothing 0.1 (pad id 0 ignored).
 * Random token ids in [1, 8000). Side by side with bench/peer/seq2seq_train.py (the same
 * model in torch.nn.Transformer) at its best thread setting.
 * Timing: warm-up steps, then the MEDIAN ms per step over rounds of timed steps.
 * Target (issue 5): ours >= 1.2x the peer's tokens/s.
 */
import { setBackend } from '../src/backend/index.js';
import { Seq2SeqTransformer } from '../src/models/seq2seq.js';
import * as F from '../src/ops/index.js';
import { Generator } from '../src/random.js';
import { randint } from '../src/tensor.js';
import { Adam } from '../src/train/optim.js';
import type { CaseResult, Row } from './matmul.js';
import { bestPeer, median, r2, timeMs } from './peer.js';
import { benchArena } from './lm-common.js';

const V = 8000;
const B = 32;
const L = 24;
const STEPS = 15;
const WARMUP = 3;
const ROUNDS = 3;

/** An encoder-decoder step's shape: V both vocabularies, S source and T target length. */
export interface Seq2SeqShape {
  V: number;
  C: number;
  H: number;
  FF: number;
  NE: number;
  ND: number;
  B: number;
  S: number;
  T: number;
}

/** Case 2's shape. */
export const CASE2: Seq2SeqShape = { V, C: 256, H: 8, FF: 512, NE: 3, ND: 3, B, S: L, T: L };

/**
 * The model, optimizer and random data of an encoder-decoder of shape `s` (case 2's by
 * default; dropout 0.1, Adam lr 1e-4, label smoothing 0.1, pad id 0); returns one training step.
 */
export function makeSeq2SeqStep(s: Seq2SeqShape = CASE2): () => void {
  setBackend('native');
  const gen = new Generator(0);
  const model = new Seq2SeqTransformer(
    {
      srcVocabSize: s.V,
      tgtVocabSize: s.V,
      dModel: s.C,
      nhead: s.H,
      numEncoderLayers: s.NE,
      numDecoderLayers: s.ND,
      dimFeedforward: s.FF,
      dropout: 0.1,
    },
    gen,
  );
  const opt = new Adam(model.parameters(), { lr: 1e-4 });
  const batches = Array.from({ length: 4 }, () => ({
    src: randint(1, s.V, [s.B, s.S], gen),
    tgtIn: randint(1, s.V, [s.B, s.T], gen),
    tgtOut: randint(1, s.V, [s.B * s.T], gen),
  }));
  let i = 0;
  const arena = benchArena();
  const step = (): void => {
    const { src, tgtIn, tgtOut } = batches[i++ % batches.length];
    opt.zeroGrad();
    const logits = model.forward(src, tgtIn); // (B, T, V)
    const loss = F.crossEntropy(F.reshape(logits, [-1, s.V]), tgtOut, {
      ignoreIndex: 0,
      labelSmoothing: 0.1,
    });
    loss.backward();
    opt.step();
  };
  return (): void => (arena ? arena.run(step) : step());
}

export async function seq2seqTrainCase(): Promise<CaseResult> {
  const step = makeSeq2SeqStep();
  const meds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) meds.push(timeMs(step, STEPS, r === 0 ? WARMUP : 1).median);
  const ours = median(meds);
  const peer = bestPeer('seq2seq_train.py', { steps: STEPS, warmup: WARMUP }, 'median_ms');
  const peerMs = peer.best ? Number(peer.best.median_ms) : null;
  const tokens = B * L;
  const row: Row = {
    metric: 'target tokens/s',
    ours: Math.round((tokens / ours) * 1000),
    peer: peerMs ? Math.round((tokens / peerMs) * 1000) : null,
    ratio: peerMs ? r2(peerMs / ours) : null,
    ours_ms: r2(ours),
    peer_ms: peerMs ? r2(peerMs) : null,
    target: '>= 1.2',
  };
  const notes = [
    `B=${B} S=T=${L} d_model 256, 8 heads, d_ff 512, 3+3 layers, V=${V}, dropout 0.1, label smoothing 0.1, Adam; median ms per step (median of ${ROUNDS} rounds of ${STEPS})`,
    peer.best
      ? `peer: torch ${peer.best.torch}, best setting torch ${peer.best.torch_threads} thread(s), OPENBLAS_NUM_THREADS=${peer.best.blas}; tried (ms/step) ${peer.tried.join('; ')}`
      : `peer unavailable${peer.error ? ` (${peer.error})` : ''}`,
  ];
  return { title: 'seq2seq-train (case 2: one Adam step, encoder-decoder)', rows: [row], notes };
}
