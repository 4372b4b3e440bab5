/**
 * `npm run bench -- --case long-attention`: one attention layer over long inputs, issue #12.
 *
 * The layer is a whole MultiheadAttention (self-attention: the packed Q/K/V projection, the
 * core, W_O), as PyTorch's nn.MultiheadAttention that is the peer, with B 1, H 4, D 32
 * (C 128), non-causal (causal when a variant only has a causal form), forward + backward
 * of sum(out * w) w.r.t. the input, for T = 1k, 2k, 4k, 8k, 16k. Rows: full attention (the
 * tiled kernel at these sizes), every registered attention variant with default parameters
 * (attentionVariants(), so new variants appear by themselves), the relative position
 * schemes rope, alibi, t5, shaw and the head variants multi-query and grouped-query with
 * full attention, and the peer (bench/peer/long_attention.py).
 *
 * Each row runs in a fresh child process (this file with --child), so its peak RSS
 * (process.resourceUsage().maxRSS, the whole process, Node included) is its own. Timing:
 * the first step is a warm-up; then steps until 5 or 10 s (median ms), or the first step
 * alone when it took over 3 s. Caps: a row whose estimated score memory exceeds
 * MEMORY_BUDGET is skipped (and `reference` / `talking-heads` above 2k), a row gets
 * ROW_TIMEOUT_MS (then "timeout", and the variant's larger T are skipped), and the case
 * stops starting rows after TOTAL_BUDGET_MS. The peer runs under `ulimit -v` (PEER_VMEM_KB,
 * "oom" when torch cannot allocate).
 *
 * Targets (the `target` column): a sparse variant scales linearly (time(16k) / time(2k)
 * <= 10) and is >= 10x faster than full attention at T 8k; full attention is >= 1.5x
 * faster than PyTorch at T 2k, with memory linear in T.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { attentionVariants, kvHeadsFor } from '../src/attention/index.js';
import { setBackend, availableBackends } from '../src/backend/index.js';
import { MultiheadAttention } from '../src/nn/attention.js';
import * as F from '../src/ops/index.js';
import { Generator } from '../src/random.js';
import { Tensor, randn } from '../src/tensor.js';
import type { CaseResult, Row } from './matmul.js';
import { BENCH_DIR } from './lm-common.js';
import { PYTHON, median, r2 } from './peer.js';

const B = 1;
const H = 4;
const D = 32;
const TS = [1024, 2048, 4096, 8192, 16384];
/** Estimated bytes of score-sized buffers a row may hold. */
const MEMORY_BUDGET = 4e9;
const ROW_TIMEOUT_MS = 120_000;
const TOTAL_BUDGET_MS = 600_000;
/** Virtual memory cap of the peer (ulimit -v, KB): 8 GB. */
const PEER_VMEM_KB = 8 * 1024 * 1024;

/** One row's layer: the attention spec, position scheme and heads spec. */
interface Layer {
  /** Row label. */
  name: string;
  attention: string;
  position?: string;
  heads?: string;
  causal: boolean;
  /** Score-sized (H, T, T) float32 buffers it keeps: 0 when linear in T. */
  quadratic: number;
  /** Skipped above this T (the brief's cap for the dense autograd variants). */
  maxT?: number;
  kind: 'sparse' | 'full' | 'position' | 'heads';
}

/** Every row of the case (without the peer). */
function layers(): Layer[] {
  const rows: Layer[] = [];
  for (const v of attentionVariants()) {
    const dense = v.name === 'reference' || v.name === 'talking-heads';
    // Full attention runs tiled here (linear); other cores by their stated memory cost.
    const quadratic =
      v.name === 'full' ? 0 : /T\^2\)? memory|O\(T\^2\) memory/.test(v.cost) ? 8 : 0;
    rows.push({
      name: v.name,
      attention: v.name,
      causal: !v.nonCausal,
      quadratic,
      maxT: dense ? 2048 : undefined,
      kind: v.name === 'full' ? 'full' : 'sparse',
    });
  }
  // Relative positions: ALiBi's fixed bias is a dense (H, T, S) mask; T5 and Shaw's learned
  // biases go through the autograd reference (several (B, H, T, S) tensors).
  const positions: [string, number][] = [
    ['rope', 0],
    ['alibi', 3],
    ['t5', 8],
    ['shaw', 8],
  ];
  for (const [p, quadratic] of positions) {
    rows.push({
      name: `full+${p}`,
      attention: 'full',
      position: p,
      causal: false,
      quadratic,
      kind: 'position',
    });
  }
  for (const h of ['multi-query', 'grouped-query']) {
    rows.push({
      name: `full+${h}`,
      attention: 'full',
      heads: h,
      causal: false,
      quadratic: 0,
      kind: 'heads',
    });
  }
  return rows;
}

/** Child: one layer at one T; prints {"ms", "rss_mb", "steps"}. */
function child(layer: Layer, T: number): void {
  setBackend(availableBackends().includes('native') ? 'native' : 'js');
  const C = H * D;
  const gen = new Generator(1);
  const mha = new MultiheadAttention(C, H, {
    kind: 'self',
    attention: layer.attention,
    position: layer.position,
    kvHeads: layer.heads ? kvHeadsFor(layer.heads, H) : undefined,
    generator: gen,
  });
  const x = new Tensor(randn([B, T, C], gen).f32, [B, T, C]).requiresGrad_(true);
  const w = randn([B, T, C], gen);
  const step = (): number => {
    const t0 = performance.now();
    const { out } = mha.forward(x, x, x, { isCausal: layer.causal });
    F.sum(F.mul(out, w)).backward();
    x.grad = null;
    for (const p of mha.parameters()) p.grad = null;
    return performance.now() - t0;
  };
  const first = step();
  const times: number[] = [];
  if (first <= 3000) {
    const t0 = performance.now();
    while (times.length < 5 && performance.now() - t0 < 10_000) times.push(step());
  }
  const ms = times.length > 0 ? median(times) : first;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, rss_mb: rss, steps: times.length + 1 }));
}

/** One row in a child process: its result or why it has none. */
function runChild(
  layer: Layer,
  T: number,
  timeoutMs: number,
): { ms?: number; rss_mb?: number; error?: string } {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', self, '--child', JSON.stringify({ layer, T })],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 1 << 22,
    },
  );
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    return { error: 'timeout' };
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').pop() ?? '';
    return { error: /memory|allocation/i.test(why) ? 'oom' : `failed: ${why.slice(0, 80)}` };
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as { ms: number; rss_mb: number };
}

/** A peer thread setting: torch.set_num_threads and OPENBLAS_NUM_THREADS. */
type PeerThreads = { torch: number; blas: number };

/** The peer at T under `ulimit -v`; "oom" / "timeout" on failure. */
function runTorch(
  T: number,
  timeoutMs: number,
  th: PeerThreads,
): { ms?: number; rss_mb?: number; error?: string } {
  const script = join(BENCH_DIR, 'peer', 'long_attention.py');
  const arg = JSON.stringify({ B, H, D, T, threads: th.torch });
  const r = spawnSync(
    'bash',
    ['-c', `ulimit -v ${PEER_VMEM_KB}; exec "$0" "$1" "$2"`, PYTHON, script, arg],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(th.blas) },
    },
  );
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    return { error: 'timeout' };
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) {
    const why = (r.stderr || '').trim().split('\n').pop() ?? '';
    return { error: /memory|alloc/i.test(why) ? 'oom' : `failed: ${why.slice(0, 80)}` };
  }
  const j = JSON.parse(last) as { ms?: number; rss_mb?: number; error?: string };
  return j;
}

/** The targets of a row, given the rows measured so far (a string for the table). */
function target(
  name: string,
  kind: Layer['kind'] | 'peer',
  T: number,
  ms: Map<string, number>,
): string {
  const at = (n: string, t: number): number | undefined => ms.get(`${n}@${t}`);
  if (kind === 'sparse' && T === 16384) {
    const a = at(name, 16384);
    const b = at(name, 2048);
    return a && b ? `t16k/t2k ${r2(a / b)} (<= 10)` : '';
  }
  if (kind === 'sparse' && T === 8192) {
    const a = at(name, 8192);
    const f = at('full', 8192);
    return a && f ? `full/this ${r2(f / a)} (>= 10)` : '';
  }
  if (name === 'full' && T === 2048) {
    const a = at('full', 2048);
    const p = at('torch', 2048);
    return a && p ? `torch/full ${r2(p / a)} (>= 1.5)` : '';
  }
  return '';
}

export async function longAttentionCase(): Promise<CaseResult> {
  const start = Date.now();
  const rows: Row[] = [];
  const ms = new Map<string, number>();
  const failed = new Set<string>();
  const notes: string[] = [
    'layer: MultiheadAttention (projections + core + W_O), self-attention, B 1, H 4, D 32, forward + backward',
    'ms: median per step; rss_mb: peak RSS of the row process (Node or Python included)',
  ];
  const add = (
    name: string,
    kind: Layer['kind'] | 'peer',
    T: number,
    r: { ms?: number; rss_mb?: number; error?: string },
  ) => {
    if (r.ms !== undefined) ms.set(`${name}@${T}`, r.ms);
    else failed.add(name);
    rows.push({
      variant: name,
      T,
      ms: r.ms !== undefined ? r2(r.ms) : null,
      rss_mb: r.rss_mb !== undefined ? Math.round(r.rss_mb) : null,
      status: r.error ?? 'ok',
      target: target(name, kind, T, ms),
    });
  };
  // The peer: its best thread setting (torch 1|2 x OpenBLAS 1|2) picked at the first T.
  let threads: PeerThreads | null = null;
  const peer = (T: number): { ms?: number; rss_mb?: number; error?: string } => {
    const left = TOTAL_BUDGET_MS - (Date.now() - start);
    if (failed.has('torch')) return { error: 'skipped: failed at a smaller T' };
    if (left <= 0) return { error: 'skipped: total budget' };
    if (threads) return runTorch(T, Math.min(ROW_TIMEOUT_MS, left), threads);
    let best: { ms?: number; rss_mb?: number; error?: string } = { error: 'no setting ran' };
    for (const torch of [1, 2])
      for (const blas of [1, 2]) {
        const r = runTorch(T, Math.min(ROW_TIMEOUT_MS, left), { torch, blas });
        if (r.ms !== undefined && (best.ms === undefined || r.ms < best.ms)) {
          [best, threads] = [r, { torch, blas }];
        } else if (best.ms === undefined) best = r;
      }
    if (threads)
      notes.push(`peer threads: torch ${threads.torch}, OpenBLAS ${threads.blas} (best at T ${T})`);
    return best;
  };
  const all = layers();
  // Full attention and the peer first at each T (the others' targets refer to them).
  const order = [...all.filter((l) => l.kind === 'full'), ...all.filter((l) => l.kind !== 'full')];
  for (const T of TS) {
    for (const [i, layer] of order.entries()) {
      const left = TOTAL_BUDGET_MS - (Date.now() - start);
      const skip =
        left <= 0
          ? 'skipped: total budget'
          : failed.has(layer.name)
            ? 'skipped: failed at a smaller T'
            : layer.maxT !== undefined && T > layer.maxT
              ? `skipped: dense, above T ${layer.maxT}`
              : layer.quadratic * H * T * T * 4 > MEMORY_BUDGET
                ? `skipped: estimated ${r2((layer.quadratic * H * T * T * 4) / 1e9)} GB > ${MEMORY_BUDGET / 1e9} GB`
                : null;
      if (skip) add(layer.name, layer.kind, T, { error: skip });
      else add(layer.name, layer.kind, T, runChild(layer, T, Math.min(ROW_TIMEOUT_MS, left)));
      if (i === 0) add('torch', 'peer', T, peer(T));
    }
  }
  notes.push(
    `targets: sparse t16k/t2k <= 10 and >= 10x faster than full at 8k; full >= 1.5x torch at 2k`,
  );
  notes.push(`total ${r2((Date.now() - start) / 1000)} s`);
  return { title: 'long-attention: one attention layer, forward + backward, by T', rows, notes };
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === '--child'
) {
  const { layer, T } = JSON.parse(process.argv[3]) as { layer: Layer; T: number };
  child(layer, T);
}
