/**
 * Measurements of the architecture report (scripts/report-architecture.ts) that need the
 * trained model in hand, through the library (load the model directory the CLI wrote):
 * the Universal Transformer's ponder steps, conditional computation's share of sub-layers
 * run and its inference time with the learned gates against all gates open, and the
 * inference time of a classifier.
 *
 * Teacher-forced probes feed one held-out pair at a time (no padding, so every position
 * counts once). Shape letters: S source length, T target length.
 */
import { noGrad } from '../../src/autograd.js';
import { makeSeq2SeqBatch } from '../../src/data/batching.js';
import { corpusBleu } from '../../src/metrics/index.js';
import type { Module } from '../../src/nn/module.js';
import { UniversalDepth } from '../../src/nn/universal.js';
import { ConditionalDepth } from '../../src/nn/conditional.js';
import { loadTranslator, translateIds, type Translator } from '../../src/tasks/translate.js';
import { loadClassifier, classifyTexts } from '../../src/tasks/classify.js';
import type { Seq2SeqTransformer } from '../../src/models/seq2seq.js';

/** A held-out translation pair. */
export interface Pair {
  source: string;
  target: string;
}

/** The depth strategies of type `kind` in `model`, by side (encoder or decoder). */
function strategies<T>(
  model: Module,
  kind: abstract new (...a: never[]) => T,
): { encoder: T[]; decoder: T[] } {
  const out = { encoder: [] as T[], decoder: [] as T[] };
  for (const [name, m] of model.namedModules())
    if (m instanceof kind) (name.includes('decoder') ? out.decoder : out.encoder).push(m);
  return out;
}

/** Run `see` after the teacher-forced forward of each pair (source and target ids cut to the context). */
function teacherForced(t: Translator, pairs: Pair[], see: () => void): void {
  const model = t.model as Seq2SeqTransformer;
  const max = model.config.maxLen - 1;
  const tok = t.vocabs.tgt;
  const ids = { padId: tok.padId, bosId: tok.bosId, eosId: tok.eosId };
  noGrad(() => {
    for (const p of pairs) {
      const src = t.vocabs.src.encode(p.source).slice(0, max);
      const tgt = tok.encode(p.target).slice(0, max - 1);
      if (src.length === 0) continue;
      const b = makeSeq2SeqBatch([{ src, tgt }], ids);
      model.forward(b.src, b.tgtIn);
      see();
    }
  });
}

/** Mean ponder steps per position and block applications per run, each side. */
export interface PonderStats {
  /** null for the fixed stack (no recurrence). */
  encoderSteps: number | null;
  decoderSteps: number | null;
  /** Mean layer applications per position (steps x distinct layers), encoder and decoder. */
  encoderDepth: number;
  decoderDepth: number;
}

/**
 * Ponder statistics of a translation model directory: for a Universal Transformer with ACT
 * the mean of the halting step N per position (UniversalDepth.lastSteps); without ACT every
 * position runs max-steps; for the fixed stack (no UniversalDepth) one step of N layers.
 */
export function ponderStats(dir: string, pairs: Pair[]): PonderStats {
  const t = loadTranslator(dir);
  const model = t.model as Seq2SeqTransformer;
  const ut = strategies(model, UniversalDepth);
  const sums = { encoder: 0, decoder: 0 };
  const counts = { encoder: 0, decoder: 0 };
  teacherForced(t, pairs, () => {
    for (const side of ['encoder', 'decoder'] as const)
      for (const d of ut[side]) {
        const steps = d.act && d.lastSteps ? d.lastSteps : new Float32Array([d.maxSteps]);
        for (const s of steps) sums[side] += s;
        counts[side] += steps.length;
      }
  });
  const mean = (side: 'encoder' | 'decoder'): number | null =>
    counts[side] ? sums[side] / counts[side] : null;
  const c = model.config;
  return {
    encoderSteps: mean('encoder'),
    decoderSteps: mean('decoder'),
    encoderDepth: (mean('encoder') ?? 1) * c.numEncoderLayers,
    decoderDepth: (mean('decoder') ?? 1) * c.numDecoderLayers,
  };
}

/** Conditional computation at inference: sub-layers run, and time with gates vs all open. */
export interface GateStats {
  /** Share of (position, sub-layer) pairs whose gate was open, teacher-forced, both sides. */
  openShare: number;
  /** Share of sub-layers skipped for a whole sentence (not computed), teacher-forced. */
  skippedShare: number;
  /** Greedy translation of the sources: seconds and BLEU with the learned gates. */
  gatedSeconds: number;
  gatedBleu: number;
  /** The same with every gate forced open (the full stack). */
  openSeconds: number;
  openBleu: number;
}

/** Best of `repeat` timings of `fn` (seconds) and its last result. */
function timed<R>(fn: () => R, repeat: number): { seconds: number; result: R } {
  let best = Infinity;
  let result!: R;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    result = fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return { seconds: best, result };
}

/**
 * Greedy translation seconds (best of `repeat`) and BLEU of a translation model directory
 * on `pairs`, with its gates as learned and with every gate forced open (for a model
 * without gates both are the same model).
 */
export function gateStats(dir: string, pairs: Pair[], repeat = 2): GateStats {
  const t = loadTranslator(dir);
  const cc = strategies(t.model, ConditionalDepth);
  const all = [...cc.encoder, ...cc.decoder];
  let open = 0;
  let skipped = 0;
  let runs = 0;
  teacherForced(t, pairs, () => {
    for (const d of all) {
      const units = d.gates.items.reduce((n, l) => n + l.items.length, 0);
      open += d.lastOpenShare;
      skipped += d.lastSkipped / units;
      runs++;
    }
  });
  const model = t.model as Seq2SeqTransformer;
  const maxLen = Math.min(64, model.config.maxLen - 1);
  const sources = pairs.map((p) => t.vocabs.src.encode(p.source).slice(0, maxLen));
  const refs = [pairs.map((p) => p.target)];
  const translate = (): string[] => translateIds(model, t.vocabs, sources, { beam: 1, maxLen });
  const gated = timed(translate, repeat);
  for (const d of all) d.force = () => 'open';
  const full = timed(translate, repeat);
  for (const d of all) d.force = null;
  return {
    openShare: runs ? open / runs : 1,
    skippedShare: runs ? skipped / runs : 0,
    gatedSeconds: gated.seconds,
    gatedBleu: corpusBleu(gated.result, refs).score,
    openSeconds: full.seconds,
    openBleu: corpusBleu(full.result, refs).score,
  };
}

/** Seconds (best of `repeat`) to classify `texts` with a classifier model directory. */
export function classifySeconds(dir: string, texts: string[], repeat = 2): number {
  const c = loadClassifier(dir);
  return timed(() => classifyTexts(c.model, c.tokenizer, c.labels, texts), repeat).seconds;
}
