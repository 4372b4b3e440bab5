/**
 * Case 3, generate: 256 new tokens, greedy, from the case-1 model (untrained weights; the
 * work per token does not depend on them) after an 8-token prompt. Ours with the KV cache
 * and without it; the peer (bench/peer/lm_train.py, mode generate) re-runs the model on the
 * growing sequence cropped to the context, as nanoGPT's generate does.
 * Note: the context is 64, so past it every step re-encodes a full window on both sides
 * (learned absolute positions shift when the window slides; a cache cannot be reused).
 * Timing: one warm-up generation, then the MEDIAN of `REPS` generations.
 * Target (issue 5): ours with the cache >= 5x the peer's tokens/s.
 */
import { setBackend } from '../src/backend/index.js';
import { generate } from '../src/decode/generate.js';
import { makeLM, shakespeareTokens } from './lm-common.js';
import type { CaseResult, Row } from './matmul.js';
import { bestPeer, r2, timeMs } from './peer.js';

const NEW_TOKENS = 256;
const PROMPT_LEN = 8;
const REPS = 5;

export async function generateCase(): Promise<CaseResult> {
  setBackend('native');
  const { model } = makeLM();
  const prompt = Array.from(shakespeareTokens().subarray(0, PROMPT_LEN));
  const run = (useCache: boolean) => (): void => {
    generate(model, prompt, { maxNewTokens: NEW_TOKENS, temperature: 0, useCache });
  };
  const cached = timeMs(run(true), REPS, 1).median;
  const uncached = timeMs(run(false), REPS, 1).median;
  const peer = bestPeer(
    'lm_train.py',
    { mode: 'generate', new_tokens: NEW_TOKENS, prompt_len: PROMPT_LEN, reps: REPS },
    'median_ms',
  );
  const peerMs = peer.best ? Number(peer.best.median_ms) : null;
  const tps = (ms: number, n = NEW_TOKENS): number => Math.round((n / ms) * 1000);
  // Within the context (prompt + new tokens <= 64), where the cache is never rebuilt.
  const inCtx = model.config.blockSize - PROMPT_LEN;
  const cachedIn = timeMs(
    () => void generate(model, prompt, { maxNewTokens: inCtx, temperature: 0 }),
    REPS,
    1,
  ).median;
  const peerIn = bestPeer(
    'lm_train.py',
    { mode: 'generate', new_tokens: inCtx, prompt_len: PROMPT_LEN, reps: REPS },
    'median_ms',
  );
  const peerInMs = peerIn.best ? Number(peerIn.best.median_ms) : null;
  const rows: Row[] = [
    {
      metric: 'tokens/s, KV cache',
      ours: tps(cached),
      peer: peerMs ? tps(peerMs) : null,
      ratio: peerMs ? r2(peerMs / cached) : null,
      ours_ms: r2(cached),
      peer_ms: peerMs ? r2(peerMs) : null,
      target: '>= 5',
    },
    {
      metric: 'tokens/s, no cache',
      ours: tps(uncached),
      peer: peerMs ? tps(peerMs) : null,
      ratio: peerMs ? r2(peerMs / uncached) : null,
      ours_ms: r2(uncached),
      peer_ms: peerMs ? r2(peerMs) : null,
      target: '-',
    },
    {
      metric: `tokens/s, KV cache, ${inCtx} tokens within the context`,
      ours: tps(cachedIn, inCtx),
      peer: peerInMs ? tps(peerInMs, inCtx) : null,
      ratio: peerInMs ? r2(peerInMs / cachedIn) : null,
      ours_ms: r2(cachedIn),
      peer_ms: peerInMs ? r2(peerInMs) : null,
      target: '-',
    },
  ];
  const notes = [
    `${NEW_TOKENS} new tokens, greedy, prompt ${PROMPT_LEN} tokens, context ${model.config.blockSize}; median ms per generation of ${REPS}`,
    peer.best
      ? `peer: torch ${peer.best.torch} (no cache, model re-run on the last ${model.config.blockSize} tokens), best setting torch ${peer.best.torch_threads} thread(s), OPENBLAS_NUM_THREADS=${peer.best.blas}; tried (ms) ${peer.tried.join('; ')}`
      : `peer unavailable${peer.error ? ` (${peer.error})` : ''}`,
  ];
  return { title: 'generate (case 3: 256 tokens, greedy, case-1 model)', rows, notes };
}
