/**
 * `npm run bench -- --case long-attention`: one attention layer over long inputs, issue #12.
 *
 * The layer is a whole MultiheadAttention (self-attention: the packed Q/K/V projection, the
 * core, W_O), as PyTorch's nn.MultiheadAttention that is the peer, with B 1, H 4, D 32
 * (C 128), non-causal (causal when a variant only has a causal form), forward + backward
 * from d out = w (the gradient of sum(out * w)) w.r.t. the input, for T = 1k, 2k, 4k, 8k,
 * 16k. Rows: full attention (the tiled kernel at these sizes), every registered attention
 * variant with default parameters (attentionVariants(), so new variants appear by
 * themselves), the relative position schemes rope, alibi, t5, shaw and the head variants
 * multi-query and grouped-query with full attention, and the peer
 * (bench/peer/long_attention.py).
 *
 * Each row runs in a fresh child process (this file with --child), so its peak RSS
 * (process.resourceUsage().maxRSS, the whole process, Node included) is its own. Steps run
 * in a StepArena with gradients zeroed in place, as a training loop runs them. A position
 * pattern's rows also give its keys per query at that T (`keys_per_row`): strided, fixed
 * and axial grow with T at their default parameters, and the 16k target says so. Timing:
 * the first step is a warm-up; then steps until 11 or 10 s (median ms: a step arena takes a
 * few steps to settle, its first steps page-faulting fresh storage), or one more step
 * alone when the first took over 3 s. Caps: a row whose estimated score memory exceeds
 * MEMORY_BUDGET is skipped (and `reference` / `talking-heads` above 2k), a row gets
 * ROW_TIMEOUT_MS (then "timeout", and the variant's larger T are skipped) or is skipped
 * when its step time predicted from its last T (quadratic growth) exceeds that, and the
 * case stops starting rows after TOTAL_BUDGET_MS: the rows linear in T run first. The peer runs under `ulimit -v` (PEER_VMEM_KB,
 * "oom" when torch cannot allocate).
 *
 * Targets (the `target` column): a sparse variant scales linearly (time(16k) / time(2k)
 * <= 10) and is >= 10x faster than full attention at T 8k; full attention is >= 1.5x
 * faster than PyTorch at T 2k, with memory linear in T. The 8k ratio is paired: after its
 * own steps (and its peak RSS), a sparse row's process also builds full attention's layer
 * and times PAIRED_ROUNDS rounds of one step of each, in turn, and the ratio is of those
 * two medians. The machine's speed drifts by 10-25% over minutes, so a ratio of two rows
 * run minutes apart moved by as much between runs of the same commit.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { attentionVariants, kvHeadsFor } from '../src/attention/index.js';
import { setBackend, availableBackends } from '../src/backend/index.js';
import { MultiheadAttention } from '../src/nn/attention.js';
import type { SparsePattern } from '../src/ops/sparse.js';
import { Generator } from '../src/random.js';
import { StepArena, Tensor, randn } from '../src/tensor.js';
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
/** Rounds of one variant step and one full-attention step for the paired 8k ratio. */
const PAIRED_ROUNDS = 5;
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
  kind: 'sparse' | 'dense' | 'full' | 'position' | 'heads';
}

/** Every row of the case (without the peer). */
function layers(): Layer[] {
  const rows: Layer[] = [];
  for (const v of attentionVariants()) {
    // Dense by construction: the autograd reference, talking-heads, and Transformer-XL's
    // core (segment memory plus relative positions, O(T (M + T)) through autograd ops).
    const dense = ['reference', 'talking-heads', 'xl'].includes(v.name);
    // Full attention runs tiled here (linear); other cores by their stated memory cost.
    const quadratic =
      v.name === 'full' ? 0 : /T\^2\)? memory|O\(T\^2\) memory/.test(v.cost) ? 8 : 0;
    rows.push({
      name: v.name,
      attention: v.name,
      causal: !v.nonCausal,
      quadratic,
      maxT: dense ? 2048 : undefined,
      kind: v.name === 'full' ? 'full' : dense ? 'dense' : 'sparse',
    });
  }
  // Relative positions: ALiBi's fixed bias and T5's learned one go to the kernels as their
  // diagonals (linear in T; T5's gradient from the tiled kernel); Shaw's query-dependent
  // relative keys go through the autograd reference (several (B, H, T, S) tensors).
  const positions: [string, number][] = [
    ['rope', 0],
    ['alibi', 0],
    ['t5', 0],
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

/**
 * One training-like step of `mha` on x (backward from d out = w, the gradient of the loss
 * sum(out * w), so that the loss's own ops are not timed) in `arena`, timed (ms). Steps run
 * in a StepArena, as the trainer runs them: activations and gradients reuse the previous
 * step's storage instead of fresh (page-faulted) buffers.
 */
function timedStep(
  mha: MultiheadAttention,
  x: Tensor,
  w: Tensor,
  causal: boolean,
  arena: StepArena,
): number {
  const t0 = performance.now();
  arena.run(() => {
    const { out } = mha.forward(x, x, x, { isCausal: causal });
    out.backward(w); // d out = w: the gradient of sum(out * w), without the loss's own ops
  });
  // Gradients zeroed in place (PyTorch's zero_grad(set_to_none=False)): dropping them made
  // the next step page-fault a fresh 4 MB dx at T 8192 (~13 ms here), which the peer's
  // caching allocator never pays.
  for (const t of [x, ...mha.parameters()]) t.grad?.f32.fill(0);
  return performance.now() - t0;
}

/** A row's layer (the variant's, or full attention's for the paired ratio). */
function layerModule(layer: Layer, T: number): MultiheadAttention {
  // A variant with a length parameter (linformer's projections along the length) gets T.
  const v = attentionVariants().find((x) => x.name === layer.attention);
  const lengthParam = v?.params.find((p) => p.name === 'max-len' || p.name === 'maxLen');
  return new MultiheadAttention(H * D, H, {
    kind: 'self',
    attention: lengthParam ? `${layer.attention}:${lengthParam.name}=${T}` : layer.attention,
    position: layer.position,
    kvHeads: layer.heads ? kvHeadsFor(layer.heads, H) : undefined,
    generator: new Generator(1),
  });
}

/**
 * Child: one layer at one T; prints {"ms", "rss_mb", "steps", "keys_per_row"} and, when
 * `paired`, {"paired": {"ms", "full_ms"}} (PAIRED_ROUNDS rounds of a step of this layer and
 * one of full attention's, after the peak RSS is read).
 */
function child(layer: Layer, T: number, paired: boolean): void {
  setBackend(availableBackends().includes('native') ? 'native' : 'js');
  const C = H * D;
  const gen = new Generator(1);
  const mha = layerModule(layer, T);
  const x = new Tensor(randn([B, T, C], gen).f32, [B, T, C]).requiresGrad_(true);
  const w = randn([B, T, C], gen);
  const arena = new StepArena();
  const step = (): number => timedStep(mha, x, w, layer.causal, arena);
  const first = step();
  const times: number[] = [];
  if (first <= 3000) {
    const t0 = performance.now();
    while (times.length < 11 && performance.now() - t0 < 10_000) times.push(step());
  } else times.push(step()); // the first step also faults in the arena's storage
  const ms = median(times);
  const rss = process.resourceUsage().maxRSS / 1024;
  // A position pattern's keys per query at this T (does the pattern itself grow with T?).
  const core = mha.core as { pattern?: (L: number, causal: boolean) => SparsePattern };
  const p = core.pattern?.(T, layer.causal);
  const keysPerRow = p ? Math.round(p.rowPtr[T] / T) : null;
  let pairs: { ms: number; full_ms: number } | undefined;
  if (paired) {
    const full = layerModule({ ...layer, attention: 'full', position: undefined }, T);
    const fullArena = new StepArena();
    timedStep(full, x, w, layer.causal, fullArena); // warm-up
    const [mine, theirs]: number[][] = [[], []];
    for (let i = 0; i < PAIRED_ROUNDS; i++) {
      mine.push(step());
      theirs.push(timedStep(full, x, w, layer.causal, fullArena));
    }
    pairs = { ms: median(mine), full_ms: median(theirs) };
  }
  console.log(
    JSON.stringify({
      ms,
      rss_mb: rss,
      steps: times.length + 1,
      keys_per_row: keysPerRow,
      paired: pairs,
    }),
  );
}

/**
 * A row's measurement (keys per query row for a position pattern; the paired steps of this
 * layer and full attention, see PAIRED_ROUNDS), or why it has none.
 */
type Result = {
  ms?: number;
  rss_mb?: number;
  keys_per_row?: number | null;
  paired?: { ms: number; full_ms: number };
  error?: string;
};

/** One row in a child process (`paired`: also the paired ratio): its result or why it has none. */
function runChild(layer: Layer, T: number, timeoutMs: number, paired = false): Result {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', self, '--child', JSON.stringify({ layer, T, paired })],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 1 << 22,
    },
  );
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    return { error: 'timeout' };
  if (r.status !== 0) {
    const lines = (r.stderr || '').trim().split('\n');
    const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.pop() ?? '';
    return { error: /memory|allocation/i.test(why) ? 'oom' : `failed: ${why.slice(0, 80)}` };
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Result;
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
  rss: Map<string, number>,
  keys: Map<string, number>,
  paired?: { ms: number; full_ms: number },
): string {
  const at = (n: string, t: number): number | undefined => ms.get(`${n}@${t}`);
  if (kind === 'sparse' && T === 16384) {
    const a = at(name, 16384);
    const b = at(name, 2048);
    const [k2, k16] = [keys.get(`${name}@2048`), keys.get(`${name}@16384`)];
    // A pattern whose keys per query grow with T (strided, fixed, axial at their defaults:
    // O(T sqrt T) or worse by design) cannot scale linearly: say so beside the ratio.
    const grows = k2 && k16 && k16 > 1.5 * k2 ? `; keys/query ${k2} -> ${k16}` : '';
    return a && b ? `t16k/t2k ${r2(a / b)} (<= 10)${grows}` : '';
  }
  if (kind === 'sparse' && T === 8192) {
    if (paired)
      return `full/this ${r2(paired.full_ms / paired.ms)} (>= 10), paired ${r2(paired.full_ms)} / ${r2(paired.ms)} ms`;
    const a = at(name, 8192);
    const f = at('full', 8192);
    return a && f ? `full/this ${r2(f / a)} (>= 10)` : '';
  }
  if (name === 'full' && T === 16384) {
    const a = rss.get('full@16384');
    const b = rss.get('full@2048');
    return a && b ? `rss t16k/t2k ${r2(a / b)} (linear: <= 8)` : '';
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
  const left = (): number => TOTAL_BUDGET_MS - (Date.now() - start);
  const results = new Map<string, Result>(); // `${name}@${T}`
  const notes: string[] = [
    'layer: MultiheadAttention (projections + core + W_O), self-attention, B 1, H 4, D 32, forward + backward',
    'ms: median per step; rss_mb: peak RSS of the row process (Node or Python included)',
  ];
  // The peer: its best thread setting (torch 1|2 x OpenBLAS 1|2) picked at the first T.
  let threads: PeerThreads | null = null;
  const peer = (T: number, cap: number): Result => {
    if (threads) return runTorch(T, cap, threads);
    let best: Result = { error: 'no setting ran' };
    for (const torch of [1, 2])
      for (const blas of [1, 2]) {
        const r = runTorch(T, Math.min(cap, left()), { torch, blas });
        if (r.ms !== undefined && (best.ms === undefined || r.ms < best.ms)) {
          [best, threads] = [r, { torch, blas }];
        } else if (best.ms === undefined) best = r;
      }
    if (threads)
      notes.push(`peer threads: torch ${threads.torch}, OpenBLAS ${threads.blas} (best at T ${T})`);
    return best;
  };
  const torchRow: Layer = {
    name: 'torch',
    attention: 'full',
    causal: false,
    quadratic: 0,
    kind: 'full',
  };
  const all = [torchRow, ...layers()];
  // Every row at T 1k and 2k first, then the rows linear in T (full attention, the peer,
  // sparse cores, RoPE, head variants) layer by layer, then the quadratic ones T by T, with
  // what is left of the budget.
  const linear = all.filter((l) => l.quadratic === 0);
  const quadratic = all.filter((l) => l.quadratic > 0);
  const [small, large] = [TS.filter((T) => T <= 2048), TS.filter((T) => T > 2048)];
  const jobs: [Layer, number][] = [
    ...small.flatMap((T) => all.map((l): [Layer, number] => [l, T])),
    ...linear.flatMap((l) => large.map((T): [Layer, number] => [l, T])),
    ...large.flatMap((T) => quadratic.map((l): [Layer, number] => [l, T])),
  ];
  const last = new Map<string, { T: number; ms: number }>();
  for (const [layer, T] of jobs) {
    const cap = Math.min(ROW_TIMEOUT_MS, left());
    const bytes = layer.quadratic * H * T * T * 4;
    const prev = last.get(layer.name);
    const predicted = prev ? prev.ms * (T / prev.T) ** 2 : 0; // ms per step, at most quadratic
    // The peer past its memory cap (about 3 (H, T, T) buffers) runs anyway: it fails fast.
    const peerOom = layer === torchRow && 3 * H * T * T * 4 > PEER_VMEM_KB * 1024;
    const failedBefore = TS.some(
      (t) => t < T && /^(oom|timeout|failed)/.test(results.get(`${layer.name}@${t}`)?.error ?? ''),
    );
    const skip =
      cap < 15_000
        ? 'skipped: total budget'
        : failedBefore
          ? 'skipped: failed at a smaller T'
          : layer.maxT !== undefined && T > layer.maxT
            ? `skipped: dense, above T ${layer.maxT}`
            : bytes > MEMORY_BUDGET
              ? `skipped: estimated ${r2(bytes / 1e9)} GB > ${MEMORY_BUDGET / 1e9} GB`
              : predicted > cap - 10_000 && !peerOom
                ? `skipped: predicted ${r2(predicted / 1000)} s/step > ${r2((cap - 10_000) / 1000)} s left`
                : null;
    const r = skip
      ? { error: skip }
      : layer === torchRow
        ? peer(T, cap)
        : runChild(layer, T, cap, layer.kind === 'sparse' && T === 8192);
    results.set(`${layer.name}@${T}`, r);
    if (r.ms !== undefined) last.set(layer.name, { T, ms: r.ms });
  }
  const ms = new Map<string, number>();
  const rss = new Map<string, number>();
  for (const [k, r] of results) if (r.ms !== undefined) ms.set(k, r.ms);
  for (const [k, r] of results) if (r.rss_mb !== undefined) rss.set(k, r.rss_mb);
  const keys = new Map<string, number>();
  for (const [k, r] of results) if (r.keys_per_row) keys.set(k, r.keys_per_row);
  const rows: Row[] = [];
  for (const layer of all) {
    const kind = layer === torchRow ? 'peer' : layer.kind;
    for (const T of TS) {
      const r = results.get(`${layer.name}@${T}`)!;
      rows.push({
        variant: layer.name,
        T,
        ms: r.ms !== undefined ? r2(r.ms) : null,
        rss_mb: r.rss_mb !== undefined ? Math.round(r.rss_mb) : null,
        keys_per_row: r.keys_per_row ?? null,
        status: r.error ?? 'ok',
        target: target(layer.name, kind, T, ms, rss, keys, r.paired),
      });
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
  const { layer, T, paired } = JSON.parse(process.argv[3]) as {
    layer: Layer;
    T: number;
    paired: boolean;
  };
  child(layer, T, paired);
}
