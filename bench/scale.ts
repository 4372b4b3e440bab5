/**
 * Speed at every scale (issue 15, part 3): one training step of larger models and batches,
 * ours and PyTorch 1.13's in the same run, with model FLOPs utilization (MFU).
 *
 * - `seq2seq-base`: the paper's base model (Vaswani et al. 2017, Table 3 "base": d_model 512,
 *   6 + 6 layers, 8 heads, d_ff 2048, dropout 0.1) with vocabularies of 8,000, B 16 x 32
 *   source and 32 target tokens, label smoothing 0.1, Adam (bench/peer/seq2seq_train.py).
 * - `lm-gpt2`: a GPT-2-small-shaped decoder-only LM (Radford et al. 2019: 12 layers, width
 *   768, 12 heads, d_ff 3072, vocabulary 50,257, pre-LN, GELU, tied head), T 256, B 4,
 *   AdamW (bench/peer/lm_train.py with its shape overrides). Token ids are tinyshakespeare's
 *   characters on both sides (any id < V is valid; the cost does not depend on which).
 * - `lm-scaling`: case 1 (bench/lm-common.ts) at batch 1, 4, 12, 48 x context 64, 256, 1024;
 *   writes bench/out/scaling.svg (tokens/s against tokens per step, ours and PyTorch).
 * - `lm-size`: case 1's character LM (vocabulary 65, T 256, B 8) grown in width and depth
 *   (d_model 128 x 4 layers to 768 x 12, d_ff 4 d_model, 64-wide heads); writes
 *   bench/out/model-size.svg (tokens/s against parameters, ours and PyTorch).
 *
 * Each of our measurements runs in a fresh child process (`--child JSON`), so its peak RSS
 * (VmHWM, including node) is its own, as the peer's ru_maxrss is (including python + torch).
 * Time: median ms per step after warm-up. MFU = model FLOPs per step / time, over the best
 * GEMM throughput measured at 512^3 in the same run (our native sgemm, 2 threads).
 * FLOPs per step (the usual count, Kaplan et al. 2020, Sec. 2.1): 3 x forward (backward = 2 x
 * forward), forward = 2 x (weight-matrix entries used per token) per token plus the attention
 * products 2 x 2 x (keys) x d_model per query and layer (full square, as PyTorch computes it).
 * Targets (issue 15): each case >= 1.5x PyTorch's tokens/s; MFU >= 0.85 on the base model;
 * peak RSS <= PyTorch's.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backend, setBackend } from '../src/backend/index.js';
import { DecoderLM } from '../src/models/decoder-lm.js';
import { Generator } from '../src/random.js';
import { AdamW } from '../src/train/optim.js';
import { lineChartSvg } from '../src/viz/chart.js';
import { BENCH_DIR, LM_CONFIG, LMBatches, lmStep } from './lm-common.js';
import { randomF32, type CaseResult, type Row } from './matmul.js';
import { makeSeq2SeqStep, type Seq2SeqShape } from './seq2seq-train.js';
import { bestPeer, peerThreadsFromEnv, r2, timeMs } from './peer.js';

/** An LM shape: vocabulary V, context T, width C, heads H, layers L, d_ff FF, batch B. */
interface LMShape {
  V: number;
  T: number;
  C: number;
  H: number;
  L: number;
  FF: number;
  B: number;
}
type Job =
  | { kind: 'lm'; shape: LMShape; steps: number }
  | { kind: 'seq2seq'; shape: Seq2SeqShape; steps: number };

const GPT2: LMShape = { V: 50257, T: 256, C: 768, H: 12, L: 12, FF: 3072, B: 4 };
const BASE: Seq2SeqShape = { V: 8000, C: 512, H: 8, FF: 2048, NE: 6, ND: 6, B: 16, S: 32, T: 32 };
const CASE1: LMShape = {
  V: LM_CONFIG.vocabSize,
  T: LM_CONFIG.blockSize,
  C: LM_CONFIG.dModel,
  H: LM_CONFIG.nhead,
  L: LM_CONFIG.numLayers,
  FF: LM_CONFIG.dimFeedforward!,
  B: 12,
};

/** Training FLOPs of one LM step (see the file's comment). */
export function lmFlops(s: LMShape): number {
  const weights = s.L * (4 * s.C * s.C + 2 * s.C * s.FF) + s.C * s.V; // per token
  const attention = s.L * 2 * 2 * s.T * s.C; // per token
  return 3 * 2 * s.B * s.T * weights + 3 * s.B * s.T * attention;
}

/** Training FLOPs of one encoder-decoder step (see the file's comment). */
export function seq2seqFlops(s: Seq2SeqShape): number {
  const block = 4 * s.C * s.C + 2 * s.C * s.FF;
  const enc = s.B * s.S * (2 * s.NE * block + s.NE * 4 * s.S * s.C);
  const crossKV = s.B * s.S * s.ND * 2 * 2 * s.C * s.C; // K, V of the memory, per decoder layer
  const dec =
    s.B * s.T * (2 * s.ND * (block + 2 * s.C * s.C) + 2 * s.C * s.V + s.ND * 4 * (s.T + s.S) * s.C);
  return 3 * (enc + crossKV + dec);
}

function vmHwmKb(): number {
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The step of a job, built in this process. */
function makeStep(job: Job): () => void {
  setBackend('native');
  const gen = new Generator(0);
  if (job.kind === 'lm') {
    const s = job.shape;
    const model = new DecoderLM(
      {
        ...LM_CONFIG,
        vocabSize: s.V,
        blockSize: s.T,
        dModel: s.C,
        nhead: s.H,
        numLayers: s.L,
        dimFeedforward: s.FF,
      },
      gen,
    );
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
    const data = new LMBatches(0);
    const batches = Array.from({ length: 4 }, () => data.next(s.B, s.T));
    let i = 0;
    return () => {
      const { x, y } = batches[i++ % batches.length];
      lmStep(model, opt, x, y, s.V);
    };
  }
  return makeSeq2SeqStep(job.shape);
}

/** Child mode: time the job's steps, print {median_ms, maxrss_kb}. */
function child(job: Job): void {
  const step = makeStep(job);
  const t = timeMs(step, job.steps, 2);
  console.log(JSON.stringify({ median_ms: t.median, maxrss_kb: vmHwmKb() }));
}

/** Runs a job in a fresh process. */
function runOurs(job: Job): { median_ms: number; maxrss_kb: number } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(job)],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`scale child failed: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { median_ms: number; maxrss_kb: number };
}

let peakCache: number | null = null;

/**
 * Best GFLOP/s of our native backend's matmul kernel at 512^3 (2 threads, preallocated
 * output, as bench/matmul.ts measures it), the MFU denominator.
 */
export function gemmPeakGflops(): number {
  if (peakCache !== null) return peakCache;
  setBackend('native');
  const be = backend();
  const n = 512;
  const a = randomF32(n * n, 1);
  const b = randomF32(n * n, 2);
  const out = new Float32Array(n * n);
  const t = timeMs(() => be.matmul(out, a, b, 1, n, n, n, false, false, 0, 0, 0), 50, 5);
  peakCache = (2 * n ** 3) / (t.best / 1e3) / 1e9;
  return peakCache;
}

/** Steps to time: about 20 case-1-sized steps' worth of work, 3 to 20. */
function stepsFor(flops: number): number {
  return Math.max(3, Math.min(20, Math.round(2e11 / flops)));
}

/** One row: ours and the peer for one job. */
function measureRow(label: string, job: Job, tokens: number, flops: number): Row {
  const ours = runOurs(job);
  const script = job.kind === 'lm' ? 'lm_train.py' : 'seq2seq_train.py';
  const arg = { mode: 'train', steps: job.steps, warmup: 2, ...job.shape };
  const peer = bestPeer(script, arg, 'median_ms');
  const peerMs = peer.best ? Number(peer.best.median_ms) : null;
  const peerKb = peer.best ? Number(peer.best.maxrss_kb) : null;
  const peak = gemmPeakGflops();
  const mfu = (ms: number): number => r2(flops / (ms / 1e3) / 1e9 / peak);
  return {
    shape: label,
    'tokens/s': Math.round((tokens / ours.median_ms) * 1e3),
    'peer tokens/s': peerMs ? Math.round((tokens / peerMs) * 1e3) : null,
    ratio: peerMs ? r2(peerMs / ours.median_ms) : null,
    ms: r2(ours.median_ms),
    'peer ms': peerMs ? r2(peerMs) : null,
    GFLOP: r2(flops / 1e9),
    MFU: mfu(ours.median_ms),
    'peer MFU': peerMs ? mfu(peerMs) : null,
    'RSS MB': Math.round(ours.maxrss_kb / 1024),
    'peer RSS MB': peerKb ? Math.round(peerKb / 1024) : null,
    'peer threads': peer.best
      ? `torch ${peer.best.torch_threads} / BLAS ${peer.best.blas}`
      : (peer.error ?? 'n/a'),
  };
}

function note(): string {
  const only = peerThreadsFromEnv();
  const peer = only
    ? `peer: torch ${only.torch} x OPENBLAS_NUM_THREADS ${only.blas} only, BENCH_PEER_THREADS`
    : 'peer: torch 1|2 x OPENBLAS_NUM_THREADS 1|2';
  return `MFU over our best 512^3 sgemm in this run: ${r2(gemmPeakGflops())} GFLOP/s (measured once; on a loaded machine MFU can read above 1). Median ms per step after 2 warm-up steps, each side in a fresh process at its best thread setting (${peer}).`;
}

export async function seq2seqBaseCase(): Promise<CaseResult> {
  const s = BASE;
  const job: Job = { kind: 'seq2seq', shape: s, steps: stepsFor(seq2seqFlops(s)) };
  const row = measureRow(`base B${s.B} S${s.S} T${s.T}`, job, s.B * s.T, seq2seqFlops(s));
  return {
    title: "seq2seq-base (the paper's base model, one Adam step; target >= 1.5x, MFU >= 0.85)",
    rows: [{ ...row, target: '>= 1.5' }],
    notes: [
      `d_model ${s.C}, ${s.NE}+${s.ND} layers, ${s.H} heads, d_ff ${s.FF}, V ${s.V}, dropout 0.1, label smoothing 0.1; tokens = target tokens`,
      note(),
    ],
  };
}

export async function lmGpt2Case(): Promise<CaseResult> {
  const s = GPT2;
  const job: Job = { kind: 'lm', shape: s, steps: stepsFor(lmFlops(s)) };
  const row = measureRow(`gpt2-small B${s.B} T${s.T}`, job, s.B * s.T, lmFlops(s));
  return {
    title: 'lm-gpt2 (GPT-2-small shape, one AdamW step; target >= 1.5x)',
    rows: [{ ...row, target: '>= 1.5' }],
    notes: [
      `${s.L} layers, width ${s.C}, ${s.H} heads, d_ff ${s.FF}, V ${s.V}, pre-LN, GELU, tied head`,
      note(),
    ],
  };
}

export async function lmScalingCase(): Promise<CaseResult> {
  const rows: Row[] = [];
  const ours: [number, number][] = [];
  const peer: [number, number][] = [];
  for (const T of [64, 256, 1024]) {
    for (const B of [1, 4, 12, 48]) {
      const s = { ...CASE1, T, B };
      const job: Job = { kind: 'lm', shape: s, steps: stepsFor(lmFlops(s)) };
      const row = measureRow(`B${B} T${T}`, job, B * T, lmFlops(s));
      rows.push({ ...row, target: '>= 1.5' });
      ours.push([B * T, Number(row['tokens/s'])]);
      if (row['peer tokens/s'] !== null) peer.push([B * T, Number(row['peer tokens/s'])]);
    }
  }
  const byX = (p: [number, number][]): [number, number][] => [...p].sort((a, b) => a[0] - b[0]);
  const out = join(BENCH_DIR, 'out');
  mkdirSync(out, { recursive: true });
  const svg = lineChartSvg(
    [
      { name: 'transformer-ts', points: byX(ours) },
      { name: 'PyTorch 1.13', points: byX(peer) },
    ],
    {
      title: 'Case 1 training speed against tokens per step',
      xLabel: 'tokens per step (B x T)',
      yLabel: 'tokens/s',
    },
  );
  writeFileSync(join(out, 'scaling.svg'), svg);
  return {
    title: 'lm-scaling (case 1 at batch 1-48 x context 64-1024; target >= 1.5x each)',
    rows,
    notes: [note(), `plot: ${join('bench', 'out', 'scaling.svg')}`],
  };
}

/** Parameters of an LM shape (embeddings, position table, blocks, final norm; tied head). */
export function lmParams(s: LMShape): number {
  const block = 4 * s.C * s.C + 4 * s.C + 2 * s.C * s.FF + s.FF + s.C + 4 * s.C;
  return s.V * s.C + s.T * s.C + s.L * block + 2 * s.C;
}

export async function lmSizeCase(): Promise<CaseResult> {
  const rows: Row[] = [];
  const ours: [number, number][] = [];
  const peer: [number, number][] = [];
  for (const [C, L] of [
    [128, 4],
    [256, 6],
    [512, 8],
    [768, 12],
  ]) {
    const s: LMShape = { ...CASE1, T: 256, B: 8, C, L, H: C / 64, FF: 4 * C };
    const job: Job = { kind: 'lm', shape: s, steps: stepsFor(lmFlops(s)) };
    const params = lmParams(s);
    const row = measureRow(`d${C} L${L}`, job, s.B * s.T, lmFlops(s));
    rows.push({ params, ...row, target: '>= 1.5' });
    const x = Math.log10(params);
    ours.push([x, Number(row['tokens/s'])]);
    if (row['peer tokens/s'] !== null) peer.push([x, Number(row['peer tokens/s'])]);
  }
  const out = join(BENCH_DIR, 'out');
  mkdirSync(out, { recursive: true });
  const svg = lineChartSvg(
    [
      { name: 'transformer-ts', points: ours },
      { name: 'PyTorch 1.13', points: peer },
    ],
    {
      title: 'Training speed against model size (character LM, B 8 x T 256)',
      xLabel: 'log10 parameters',
      yLabel: 'tokens/s',
      logY: true,
    },
  );
  writeFileSync(join(out, 'model-size.svg'), svg);
  return {
    title: 'lm-size (character LM from d 128 x 4 layers to 768 x 12; target >= 1.5x each)',
    rows,
    notes: [note(), `plot: ${join('bench', 'out', 'model-size.svg')}`],
  };
}

const at = process.argv.indexOf('--child');
if (at >= 0) child(JSON.parse(process.argv[at + 1]) as Job);
