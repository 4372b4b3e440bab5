/**
 * Child process of test/attention/tiled.test.ts: one attention forward + backward on the
 * native backend, B 1, H 1, D 32, causal, T given, tiled then fused; prints
 * {"tiled": bytes, "fused": bytes}, each the growth of the peak RSS over the run (inputs
 * allocated before). Usage: node --import tsx tiled-rss.fixture.ts T
 */
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';

const T = Number(process.argv[2]);
const D = 32;
setBackend('native');
const x = new Tensor(randn([1, T, 3 * D], new Generator(1)).f32, [1, T, 3 * D]).requiresGrad_(true);
const w = randn([1, T, D], new Generator(2));
const cols = { k: D, v: 2 * D };

/** Peak RSS growth (bytes) of one causal forward + backward, tiled or fused. */
function growth(tiled: boolean, t: number): number {
  const before = process.resourceUsage().maxRSS * 1024;
  const xs = t === T ? x : F.slice(x, 1, 0, t);
  const { out } = F.multiHeadAttention(xs, xs, xs, 1, D, cols, { causal: true, tiled });
  F.sum(F.mul(out, t === T ? w : F.slice(w, 1, 0, t))).backward();
  x.grad = null;
  return process.resourceUsage().maxRSS * 1024 - before;
}

growth(true, 64); // warm-up: loads the addon, starts the pool
growth(false, 64);
// Tiled first: the fused run's growth is then counted from the tiled run's peak.
console.log(JSON.stringify({ tiled: growth(true, T), fused: growth(false, T) }));
