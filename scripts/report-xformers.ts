/**
 * Generates docs/xformers.md: every registered attention variant (issues #12, #13) trained
 * at equal steps and seed on two tasks, one row per variant, full attention first:
 *
 * - tinyshakespeare character LM at context 512 (decoder-only, causal variants only):
 *   validation loss, training tokens/s, peak RSS;
 * - ListOps (Long Range Arena's long-range task, src/data/listops.ts: lengths up to 1,000
 *   tokens) with an encoder classifier (non-causal variants; batches of neighbours in length
 *   order, so padding stays small): test accuracy, examples/s,
 *   peak RSS.
 *
 * Position schemes (rope, alibi, t5, shaw) and head variants (multi-query, grouped-query,
 * talking-heads) get rows of their own with full attention. Each row runs in a fresh child
 * process (its peak RSS is its own); a row that fails or exceeds its time budget says so.
 *
 *   node --import tsx scripts/report-xformers.ts [--steps 300] [--only full,local] [--out docs/xformers.md]
 *     [--resume] [--task lm|listops]
 *
 * Every finished row is also kept in OUT's `.rows.json` (the row's result, commit, thread
 * and CPU setting, time); `--resume` reuses the rows found there for the same job (label,
 * task, attention spec, steps) and runs only the rest, so a run interrupted, or spread over
 * several sittings, completes. The report names the commits its rows come from.
 *
 * Shape letters: B batch, T context.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { attentionVariants } from '../src/attention/registry.js';
import { DecoderLM } from '../src/models/decoder-lm.js';
import { EncoderClassifier } from '../src/models/classifier.js';
import { generateListOps, LISTOPS_OPERATORS } from '../src/data/listops.js';
import * as F from '../src/ops/index.js';
import { noGrad } from '../src/autograd.js';
import { Generator } from '../src/random.js';
import { StepArena, Tensor } from '../src/tensor.js';
import { AdamW } from '../src/train/optim.js';
import { shakespeareTokens } from '../bench/lm-common.js';
import { runEnvironment } from './report-env.js';

const SEED = 1234;
const LM = { T: 512, B: 4, dModel: 128, nhead: 4, numLayers: 2 };
const LISTOPS = { B: 8, maxLen: 1000, train: 4000, test: 500, dModel: 128, nhead: 4, numLayers: 2 };

/** One row: what the child runs. */
interface Job {
  label: string;
  attention: string;
  position?: string;
  heads?: string;
  task: 'lm' | 'listops';
  steps: number;
}

/** What the child reports. */
interface Result {
  metric: number | null;
  rate: number;
  rssMb: number;
  params: number;
  error?: string;
}

/** Spec of a variant at its defaults, with a sequence-length parameter set to the task's. */
function specFor(name: string, maxLen: number): string {
  const v = attentionVariants().find((x) => x.name === name)!;
  const sets = v.params
    .filter((p) => p.name === 'max-len' || p.name === 'maxLen')
    .map((p) => `${p.name}=${maxLen}`);
  return sets.length ? `${name}:${sets.join(',')}` : name;
}

function runLM(job: Job): Result {
  const tokens = shakespeareTokens();
  const split = Math.floor(tokens.length * 0.9);
  const gen = new Generator(SEED);
  const model = new DecoderLM(
    {
      vocabSize: 65,
      blockSize: LM.T,
      dModel: LM.dModel,
      nhead: LM.nhead,
      numLayers: LM.numLayers,
      dropout: 0,
      attention: job.attention,
      ...(job.position ? { position: job.position } : {}),
      ...(job.heads ? { heads: job.heads } : {}),
    },
    new Generator(SEED),
  );
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const batch = (lo: number, hi: number, g: Generator) => {
    const x = new Int32Array(LM.B * LM.T);
    const y = new Int32Array(LM.B * LM.T);
    for (let b = 0; b < LM.B; b++) {
      const s = lo + g.randint(hi - lo - LM.T - 1);
      x.set(tokens.subarray(s, s + LM.T), b * LM.T);
      y.set(tokens.subarray(s + 1, s + LM.T + 1), b * LM.T);
    }
    return { x: new Tensor(x, [LM.B, LM.T]), y: new Tensor(y, [LM.B * LM.T]) };
  };
  const arena = new StepArena();
  const t0 = performance.now();
  for (let s = 0; s < job.steps; s++) {
    const { x, y } = batch(0, split, gen);
    arena.run(() => {
      opt.zeroGrad();
      const loss = F.crossEntropy(F.reshape(model.forward(x), [-1, 65]), y);
      loss.backward();
      opt.step();
      return loss.item();
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  model.eval();
  const vg = new Generator(7);
  let total = 0;
  for (let i = 0; i < 10; i++) {
    const { x, y } = batch(split, tokens.length, vg);
    total += noGrad(() => F.crossEntropy(F.reshape(model.forward(x), [-1, 65]), y).item());
  }
  return {
    metric: total / 10,
    rate: (job.steps * LM.B * LM.T) / seconds,
    rssMb: process.resourceUsage().maxRSS / 1024,
    params: model.numParameters(),
  };
}

/** ListOps token ids: 0 pad, 1 [CLS], 2-11 digits, then the operators and ']'. */
function listOpsIds(text: string): number[] {
  const vocab = ['[PAD]', '[CLS]', ...'0123456789', ...LISTOPS_OPERATORS, ']'];
  const id = new Map(vocab.map((t, i) => [t, i]));
  return [1, ...text.split(' ').map((t) => id.get(t)!)];
}

function runListOps(job: Job): Result {
  const o = { maxLength: LISTOPS.maxLen - 1 };
  const train = generateListOps(LISTOPS.train, SEED, o);
  const test = generateListOps(LISTOPS.test, SEED + 1, o);
  const model = new EncoderClassifier(
    {
      vocabSize: 17,
      numClasses: 10,
      dModel: LISTOPS.dModel,
      nhead: LISTOPS.nhead,
      numLayers: LISTOPS.numLayers,
      maxLen: LISTOPS.maxLen,
      pooling: 'cls',
      dropout: 0.1,
      attention: job.attention,
      ...(job.position ? { position: job.position } : {}),
      ...(job.heads ? { heads: job.heads } : {}),
    },
    new Generator(SEED),
  );
  const opt = new AdamW(model.parameters(), { lr: 5e-4 });
  const gen = new Generator(SEED);
  const toBatch = (ex: { text: string; label: string }[]) => {
    const seqs = ex.map((e) => listOpsIds(e.text));
    const L = Math.max(...seqs.map((s) => s.length));
    const ids = new Int32Array(ex.length * L);
    seqs.forEach((s, i) => ids.set(s, i * L));
    return {
      ids: new Tensor(ids, [ex.length, L]),
      y: new Tensor(
        Int32Array.from(ex, (e) => Number(e.label)),
        [ex.length],
      ),
    };
  };
  // Length bucketing: a batch is B neighbours in length order from a random start, so a
  // batch pads to about its own length instead of the longest of B random examples.
  const byLength = [...train].sort((a, b) => a.text.length - b.text.length);
  const arena = new StepArena();
  const t0 = performance.now();
  for (let s = 0; s < job.steps; s++) {
    const start = gen.randint(byLength.length - LISTOPS.B + 1);
    const ex = byLength.slice(start, start + LISTOPS.B);
    const { ids, y } = toBatch(ex);
    arena.run(() => {
      opt.zeroGrad();
      const loss = F.crossEntropy(model.forward(ids), y);
      loss.backward();
      opt.step();
      return loss.item();
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  model.eval();
  let correct = 0;
  const testByLength = [...test].sort((a, b) => a.text.length - b.text.length);
  for (let i = 0; i < test.length; i += LISTOPS.B) {
    const { ids, y } = toBatch(testByLength.slice(i, i + LISTOPS.B));
    const logits = noGrad(() => model.forward(ids));
    const K = 10;
    for (let r = 0; r < y.size; r++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (logits.f32[r * K + k] > logits.f32[r * K + best]) best = k;
      if (best === y.i32[r]) correct++;
    }
  }
  return {
    metric: correct / test.length,
    rate: (job.steps * LISTOPS.B) / seconds,
    rssMb: process.resourceUsage().maxRSS / 1024,
    params: model.numParameters(),
  };
}

/** The rows: every variant, then positions and heads with full attention. */
function jobs(steps: number, only: string[] | null): Job[] {
  const out: Job[] = [];
  const variants = attentionVariants().filter((v) => v.name !== 'reference');
  variants.sort((a, b) => (a.name === 'full' ? -1 : b.name === 'full' ? 1 : 0));
  for (const v of variants) {
    if (only && !only.includes(v.name)) continue;
    if (v.causal) out.push({ label: v.name, attention: specFor(v.name, LM.T), task: 'lm', steps });
    if (v.nonCausal)
      out.push({
        label: v.name,
        attention: specFor(v.name, LISTOPS.maxLen),
        task: 'listops',
        steps,
      });
  }
  const extra: [string, Partial<Job>][] = [
    ['position rope', { position: 'rope' }],
    ['position alibi', { position: 'alibi' }],
    ['position t5', { position: 't5' }],
    ['position shaw', { position: 'shaw' }],
    ['heads multi-query', { heads: 'multi-query' }],
    ['heads grouped-query', { heads: 'grouped-query:groups=2' }],
  ];
  for (const [label, over] of extra) {
    if (only && !only.includes(label.split(' ')[1])) continue;
    for (const task of ['lm', 'listops'] as const)
      out.push({ label, attention: 'full', task, steps, ...over });
  }
  return out;
}

function child(job: Job): void {
  const r = job.task === 'lm' ? runLM(job) : runListOps(job);
  process.stdout.write(JSON.stringify(r) + '\n');
}

function runRow(job: Job, budgetS: number): Result {
  const self = fileURLToPath(import.meta.url);
  const p = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', JSON.stringify(job)], {
    encoding: 'utf8',
    timeout: budgetS * 1000,
    maxBuffer: 1 << 24,
  });
  const line = p.stdout?.trim().split('\n').pop() ?? '';
  if (p.status === 0 && line.startsWith('{')) return JSON.parse(line) as Result;
  const why = p.error
    ? `timeout after ${budgetS} s`
    : (p.stderr ?? '').trim().split('\n').slice(-1)[0];
  return { metric: null, rate: 0, rssMb: 0, params: 0, error: why || `exit ${p.status}` };
}

/** A finished row as kept in the `.rows.json` file. */
interface SavedRow {
  job: Job;
  result: Result;
  commit: string;
  environment: string;
  finished: string;
}

/** The key that identifies a job across runs. */
const jobKey = (j: Job) => JSON.stringify([j.label, j.task, j.attention, j.steps]);

/** The saved rows of an earlier run (none when the file is absent). @throws on bad JSON. */
function loadSaved(path: string): Map<string, SavedRow> {
  if (!existsSync(path)) return new Map();
  let rows: SavedRow[];
  try {
    rows = JSON.parse(readFileSync(path, 'utf8')) as SavedRow[];
  } catch (e) {
    throw new Error(`--resume: ${path} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return new Map(rows.filter((r) => !r.result.error).map((r) => [jobKey(r.job), r]));
}

function fmtRow(job: Job, r: Result): string {
  if (r.error)
    return `| ${job.label} | \`${job.attention}\` | - | - | - | ${r.error.slice(0, 80)} |`;
  const metric = job.task === 'lm' ? r.metric!.toFixed(3) : `${(100 * r.metric!).toFixed(1)}%`;
  return `| ${job.label} | \`${job.attention}\` | ${r.params.toLocaleString('en-US')} | ${metric} | ${Math.round(r.rate).toLocaleString('en-US')} | ${Math.round(r.rssMb)} MB |`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      steps: { type: 'string', default: '300' },
      only: { type: 'string' },
      task: { type: 'string' },
      out: { type: 'string', default: 'docs/xformers.md' },
      budget: { type: 'string', default: '1800' },
      resume: { type: 'boolean', default: false },
    },
  });
  if (values.child) return child(JSON.parse(values.child) as Job);
  const steps = Number(values.steps);
  const only = values.only ? values.only.split(',') : null;
  if (values.task && values.task !== 'lm' && values.task !== 'listops')
    throw new Error(`--task must be lm or listops, got '${values.task}'`);
  // --task keeps one task's rows (with --resume, the other task's saved rows are kept too).
  const total = jobs(steps, only).length;
  const all = jobs(steps, only).filter((j) => !values.task || j.task === values.task);
  const rows: Record<'lm' | 'listops', string[]> = { lm: [], listops: [] };
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  mkdirSync(dirname(values.out!), { recursive: true });
  const savedPath = values.out!.replace(/\.md$/, '') + '.rows.json';
  const saved = values.resume ? loadSaved(savedPath) : new Map<string, SavedRow>();
  // Saved rows of jobs this sitting does not run (another --task or --only) stay in the file
  // and the report.
  const keys = new Set(all.map(jobKey));
  const kept: SavedRow[] = [...saved.values()].filter((r) => !keys.has(jobKey(r.job)));
  for (const r of kept) rows[r.job.task].push(fmtRow(r.job, r.result));
  const load0 = loadavg()[0];
  const started = Date.now();
  let ran = 0; // rows trained in this sitting (the others resumed from the saved rows)
  for (const [i, job] of all.entries()) {
    process.stderr.write(`[${i + 1}/${all.length}] ${job.task} ${job.label} ... `);
    let row = saved.get(jobKey(job));
    if (row) process.stderr.write('(resumed) ');
    else {
      const result = runRow(job, Number(values.budget));
      ran++;
      const finished = new Date().toISOString().slice(0, 16);
      row = { job, result, commit, environment: runEnvironment(), finished };
    }
    process.stderr.write(`${row.result.error ?? row.result.metric}\n`);
    rows[job.task].push(fmtRow(job, row.result));
    kept.push(row);
    // Written after every row, so an interrupted run leaves the rows it finished.
    writeFileSync(savedPath + '.tmp', JSON.stringify(kept, null, 1) + '\n');
    renameSync(savedPath + '.tmp', savedPath);
    const commits = [...new Set(kept.map((r) => r.commit))].join(', ');
    const status =
      (kept.length < total
        ? `**Partial: ${kept.length} of ${total} rows so far.** `
        : ran > 0
          ? `${total} rows (the last sitting ${((Date.now() - started) / 60000).toFixed(0)} min). `
          : `${total} rows, all from the saved runs. `) +
      `Rows from commit(s) ${commits}; each row's thread and CPU setting is in ${savedPath.split('/').pop()}. `;
    const load = `Load average (1 min) at start ${load0.toFixed(1)}, now ${loadavg()[0].toFixed(1)} on ${cpus().length} cores: with other work on the machine, tokens/s and examples/s are lower than on a quiet one, and comparable only within this run; losses and accuracies do not depend on it.`;
    writeFileSync(values.out!, makeDoc(rows, steps, only, commit, status + load));
  }
  process.stderr.write(`wrote ${values.out}\n`);
}

/** The report's markdown from the rows so far. */
function makeDoc(
  rows: Record<'lm' | 'listops', string[]>,
  steps: number,
  only: string[] | null,
  commit: string,
  status: string,
): string {
  const papers = attentionVariants()
    .filter((v) => v.name !== 'reference' && (!only || only.includes(v.name)))
    .map((v) => `- **${v.name}**: ${v.paper}. Cost: ${v.cost}.`);
  return [
    '# X-formers side by side',
    '',
    `Generated by \`node --import tsx scripts/report-xformers.ts --steps ${steps}${only ? ` --only ${only.join(',')}` : ''}\` at commit ${commit}, seed ${SEED}, native backend (this process: ${runEnvironment()}; each row's own threads and CPUs are in the rows file). Each row is a fresh process.`,
    '',
    status,
    '',
    `## tinyshakespeare character LM, context ${LM.T}`,
    '',
    `${LM.numLayers} layers, width ${LM.dModel}, ${LM.nhead} heads, batch ${LM.B}, AdamW 1e-3, ${steps} steps; validation loss over 10 fixed batches of the last 10% of the text. Causal variants only.`,
    '',
    '| variant | spec | parameters | validation loss | tokens/s | peak RSS |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.lm,
    '',
    `## ListOps (Long Range Arena), lengths up to ${LISTOPS.maxLen} tokens`,
    '',
    `Encoder classifier, ${LISTOPS.numLayers} layers, width ${LISTOPS.dModel}, ${LISTOPS.nhead} heads, [CLS] pooling, batch ${LISTOPS.B} (neighbours in length order, so a batch pads to about its own length), AdamW 5e-4, ${steps} steps on ${LISTOPS.train} generated training examples; accuracy on ${LISTOPS.test} test examples (chance: about 10-17%, the most frequent labels). LRA (Tay et al. 2020, Table 1) trains 4-6 layers of width 512 for 5,000 steps at lengths up to 2,000 and reports full attention at 36.4% and the X-formers from 15.8% (local) to 37.3% (Reformer); ours is far smaller and shorter, so compare the variants with each other, not with LRA's figures.`,
    '',
    '| variant | spec | parameters | test accuracy | examples/s | peak RSS |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.listops,
    '',
    '## The variants',
    '',
    ...papers,
    '',
  ].join('\n');
}

main();
