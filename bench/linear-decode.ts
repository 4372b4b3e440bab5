/**
 * `npm run bench -- --case linear-decode`: the per-token cost of decoding with linearized
 * attention's recurrent state (issue #13: "decoding with the recurrent state costs the same
 * per token at position 100 and 10,000"; Katharopoulos et al. 2020, Sec. 3.4, the RNN view).
 *
 * One self-attention layer (MultiheadAttention: projections, core, W_O; B 1, H 4, D 32),
 * causal, in eval mode without gradients. For each position P: a state built by one prefill
 * call over a P-token prompt, then WARMUP untimed and STEPS timed single-token calls through
 * it; median microseconds per token. Rows: every registered variant
 * whose causal state is a LinearState (linear, performer), and full attention with its KV
 * cache for contrast (its step reads all P cached keys: the cost grows with P).
 */
import { attentionVariants, createAttentionCore } from '../src/attention/index.js';
import { LinearState } from '../src/attention/linear-state.js';
import { noGrad } from '../src/autograd.js';
import { availableBackends, setBackend } from '../src/backend/index.js';
import { MultiheadAttention } from '../src/nn/attention.js';
import { Generator } from '../src/random.js';
import { randn } from '../src/tensor.js';
import type { CaseResult, Row } from './matmul.js';
import { median, r2 } from './peer.js';

const H = 4;
const D = 32;
const POSITIONS = [100, 10_000];
const STEPS = 200;
/** Untimed steps first (the JIT warms up on the first position's). */
const WARMUP = 50;

/** Median microseconds per decoded token at each position of POSITIONS. */
function perToken(attention: string): number[] {
  const C = H * D;
  const gen = new Generator(1);
  const mha = new MultiheadAttention(C, H, { kind: 'self', attention, generator: gen }).eval();
  return POSITIONS.map((P) =>
    noGrad(() => {
      const state = mha.newState();
      const prompt = randn([1, P, C], gen);
      mha.forward(prompt, prompt, prompt, { isCausal: true }, state);
      const times: number[] = [];
      for (let s = 0; s < WARMUP + STEPS; s++) {
        const x = randn([1, 1, C], gen);
        const t0 = performance.now();
        mha.forward(x, x, x, { isCausal: true }, state);
        if (s >= WARMUP) times.push(performance.now() - t0);
      }
      return median(times) * 1000;
    }),
  );
}

export async function linearDecodeCase(): Promise<CaseResult> {
  setBackend(availableBackends().includes('native') ? 'native' : 'js');
  const dims = { numHeads: H, headDim: D };
  const names = attentionVariants()
    .filter((v) => v.causal && createAttentionCore(v.name, dims).newState() instanceof LinearState)
    .map((v) => v.name);
  const rows: Row[] = [];
  for (const name of [...names, 'full']) {
    const us = perToken(name);
    const row: Row = { variant: name };
    POSITIONS.forEach((P, i) => (row[`us_per_token_at_${P}`] = r2(us[i])));
    row.ratio = r2(us[us.length - 1] / us[0]);
    row.state = name === 'full' ? 'KV cache (grows with P)' : 'recurrent (S, z)';
    rows.push(row);
  }
  return {
    title: `linear-decode: microseconds per decoded token at positions ${POSITIONS.join(' and ')}`,
    rows,
    notes: [
      `layer: MultiheadAttention (projections + core + W_O), causal self-attention, B 1, H ${H}, D ${D}, eval, no gradients`,
      `per position: one prefill call over the prompt, then ${WARMUP} untimed and ${STEPS} timed single-token calls through the state; median per call`,
      `target (issue #13): the recurrent state costs the same per token at ${POSITIONS.join(' and ')} (ratio about 1)`,
    ],
  };
}
