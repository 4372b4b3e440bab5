/**
 * Case 1, lm-train: one AdamW step of the case-1 decoder-only LM (bench/lm-common.ts) on
 * the native backend, side by side with PyTorch (bench/peer/lm_train.py) at its best thread
 * setting (torch 1|2 threads x OPENBLAS_NUM_THREADS 1|2, each in a fresh process).
 * Timing: warm-up steps, then the MEDIAN ms per step over `ROUNDS` rounds of timed steps
 * (the machine is shared: medians, and the best round's median is not used).
 * Target (issue 5): ours >= 1.3x the peer's tokens/s.
 */
import { setBackend } from '../src/backend/index.js';
import { LM_BATCH, LM_CONFIG, LMBatches, lmStep, makeLM } from './lm-common.js';
import type { CaseResult, Row } from './matmul.js';
import { bestPeer, median, r2, timeMs } from './peer.js';

const STEPS = 30;
const WARMUP = 5;
const ROUNDS = 3;

/** Median ms per training step of our case-1 model. */
export function oursLmStepMs(steps = STEPS, warmup = WARMUP, rounds = ROUNDS): number {
  setBackend('native');
  const { model, opt } = makeLM();
  const data = new LMBatches(0);
  const batches = Array.from({ length: 8 }, () => data.next());
  let i = 0;
  const step = (): void => {
    const { x, y } = batches[i++ % batches.length];
    lmStep(model, opt, x, y);
  };
  const meds: number[] = [];
  for (let r = 0; r < rounds; r++) meds.push(timeMs(step, steps, r === 0 ? warmup : 1).median);
  return median(meds);
}

export async function lmTrainCase(): Promise<CaseResult> {
  const tokens = LM_BATCH * LM_CONFIG.blockSize;
  const ours = oursLmStepMs();
  const peer = bestPeer(
    'lm_train.py',
    { mode: 'train', steps: STEPS, warmup: WARMUP },
    'median_ms',
  );
  const notes = [
    `B=${LM_BATCH} T=${LM_CONFIG.blockSize} C=${LM_CONFIG.dModel} layers=${LM_CONFIG.numLayers} heads=${LM_CONFIG.nhead} V=${LM_CONFIG.vocabSize}, AdamW; median ms per step (ours: median of ${ROUNDS} rounds of ${STEPS})`,
  ];
  if (peer.best) {
    notes.push(
      `peer: torch ${peer.best.torch}, best setting torch ${peer.best.torch_threads} thread(s), OPENBLAS_NUM_THREADS=${peer.best.blas}; tried (ms/step) ${peer.tried.join('; ')}`,
    );
  } else notes.push(`peer unavailable${peer.error ? ` (${peer.error})` : ''}`);
  const peerMs = peer.best ? Number(peer.best.median_ms) : null;
  const row: Row = {
    metric: 'tokens/s',
    ours: Math.round((tokens / ours) * 1000),
    peer: peerMs ? Math.round((tokens / peerMs) * 1000) : null,
    ratio: peerMs ? r2(peerMs / ours) : null,
    ours_ms: r2(ours),
    peer_ms: peerMs ? r2(peerMs) : null,
    target: '>= 1.3',
  };
  return { title: 'lm-train (case 1: one AdamW step, decoder-only LM)', rows: [row], notes };
}
