/**
 * Generates docs/translation.md (issue #19) from real runs of the `transformer` command:
 *
 * - `default`: the default recipe on freedict-de-en (the README's first command);
 * - `sentences`: the same recipe on freedict-de-en-sentences (the full-sentence pairs alone);
 * - `averaged`: the default recipe with --average-checkpoints N.
 *
 * For each run: the command line, the training and wall time, validation BLEU (greedy, the
 * trainer's 200 sentences), test BLEU on the held-out split (greedy and beam, `transformer
 * eval`), BLEU by source length (`eval --by-length`), and the translations of the ten
 * everyday sentences of data/translation/everyday-de.txt (`transformer translate`, its
 * default beam 4), checked not to occur in the data. Each run is a child process running the
 * CLI from source (the same code as `npx transformer`).
 *
 *   node --import tsx scripts/report-translation.ts [--only default,sentences,averaged]
 *     [--average 5] [--steps N] [--beam 4] [--test-limit N] [--quick] [--runs-dir runs/report]
 *     [--out docs/translation.md]
 *
 * --test-limit N scores the first N test pairs only (default all); --steps N passes --steps
 * to every run; --quick is a smoke run (tiny preset, 30 steps, validation every 10, test BLEU
 * on 50 sentences): its numbers mean nothing, it only shows the script works. Each run's loss chart is copied next to the report
 * (translation-<run>-loss.svg) and shown after the tables.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { datasetInfo, resolveDataset } from '../src/data/index.js';
import { readMetrics } from '../src/tasks/report.js';
import { fixed, quote, ROOT, transformer } from './translation-common.js';
import { runEnvironment } from './report-env.js';
import { timeToMetric, type TimeToMetric } from '../src/train/time-to-metric.js';

const EVERYDAY = join(ROOT, 'data', 'translation', 'everyday-de.txt');
/** Test BLEU of the default run before issue #19 (the 36,898-pair set; README). */
const BEFORE = { bleu: 6.9, note: 'the old freedict-de-en (36,898 pairs of one dictionary)' };

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'default,sentences,averaged' },
    average: { type: 'string', default: '5' },
    steps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    beam: { type: 'string', default: '4' },
    'test-limit': { type: 'string' },
    'runs-dir': { type: 'string', default: 'runs/report' },
    out: { type: 'string', default: 'docs/translation.md' },
  },
});

/** One run of the report. */
interface Run {
  name: string;
  what: string;
  data: string;
  trainArgs: string[];
}

const average = Number(args.average);
if (!Number.isInteger(average) || average < 1)
  throw new Error(`--average must be a positive integer, got '${args.average}'`);
const testBeam = Number(args.beam);
if (!Number.isInteger(testBeam) || testBeam < 1)
  throw new Error(`--beam must be a positive integer, got '${args.beam}'`);
const extra = [
  ...(args.quick
    ? ['--preset', 'tiny', '--batch-tokens', '600', '--steps', '30', '--eval-every', '10']
    : []),
  ...(args.steps ? ['--steps', args.steps] : []),
];
const testLimit = args['test-limit'] ?? (args.quick ? '50' : undefined);
if (testLimit !== undefined && !(Number.isInteger(Number(testLimit)) && Number(testLimit) >= 1))
  throw new Error(`--test-limit must be a positive integer, got '${testLimit}'`);
const limit = testLimit ? ['--limit', testLimit] : [];
const ALL: Run[] = [
  {
    name: 'default',
    what: 'the default recipe on freedict-de-en',
    data: 'freedict-de-en',
    trainArgs: [],
  },
  {
    name: 'sentences',
    what: 'the same recipe on freedict-de-en-sentences',
    data: 'freedict-de-en-sentences',
    trainArgs: [],
  },
  {
    name: 'averaged',
    what: `the default recipe with --average-checkpoints ${average}`,
    data: 'freedict-de-en',
    trainArgs: ['--average-checkpoints', String(average)],
  },
];
const runs = args.only.split(',').map((n) => {
  const r = ALL.find((x) => x.name === n.trim());
  if (!r)
    throw new Error(`--only: unknown run '${n}' (known: ${ALL.map((x) => x.name).join(', ')})`);
  return r;
});

/** What one run measured. */
interface Result {
  run: Run;
  /** The run's model directory. */
  dir: string;
  command: string;
  wallSeconds: number;
  trainSeconds: number;
  steps: number;
  validBleu: number | undefined;
  /** Time to 90% of the final validation BLEU (issue #15 part 4). */
  timeToBleu: TimeToMetric | null;
  averaged: Record<string, number> | undefined;
  testGreedy: Record<string, number | string>;
  testBeam: Record<string, number | string>;
  everyday: string[];
}

function runOne(run: Run, sentences: string[]): Result {
  const dir = join(args['runs-dir'], run.name);
  rmSync(resolve(ROOT, dir), { recursive: true, force: true });
  const trainArgs = [
    'train',
    '--task',
    'translate',
    '--data',
    run.data,
    '--out',
    dir,
    ...run.trainArgs,
    ...extra,
  ];
  const command = `npx transformer ${trainArgs.map(quote).join(' ')}`;
  process.stderr.write(`\n== ${run.name}: ${command}\n`);
  const t0 = Date.now();
  transformer(trainArgs, false);
  const wallSeconds = (Date.now() - t0) / 1000;
  const metrics = readMetrics(resolve(ROOT, dir));
  const evals = metrics.filter((m) => m.valid_loss !== undefined);
  const averaged = metrics.find((m) => m.averaged_checkpoints !== undefined);
  const lastStep = metrics.filter((m) => typeof m.seconds === 'number').at(-1);
  const evalArgs = (beam: number, byLength: boolean): string[] => [
    'eval',
    '--model',
    dir,
    '--data',
    run.data,
    '--beam',
    String(beam),
    '--json',
    ...(byLength ? ['--by-length'] : []),
    ...limit,
  ];
  const testGreedy = JSON.parse(transformer(evalArgs(1, testBeam === 1), true)) as Record<
    string,
    number | string
  >;
  const testBeamResult =
    testBeam === 1
      ? testGreedy
      : (JSON.parse(transformer(evalArgs(testBeam, true), true)) as Record<
          string,
          number | string
        >);
  const everyday = transformer(['translate', '--model', dir, ...sentences], true)
    .replace(/\n$/, '')
    .split('\n');
  return {
    run,
    dir,
    command,
    wallSeconds,
    trainSeconds: lastStep?.seconds ?? NaN,
    steps: lastStep?.step ?? 0,
    validBleu: averaged?.valid_bleu_averaged ?? evals.at(-1)?.valid_bleu,
    timeToBleu: timeToMetric(metrics, 'valid_bleu', 0.9),
    averaged,
    testGreedy,
    testBeam: testBeamResult,
    everyday,
  };
}

/** The everyday sentences that occur in the data (as a source or inside one), as the test checks. */
function inData(sentences: string[]): string[] {
  const key = (x: string): string =>
    x
      .toLowerCase()
      .replace(/[.?!,]/g, '')
      .trim();
  const sources = resolveDataset('freedict-de-en', 'translate').map((p) => key(p.source));
  return sentences.filter((s) => sources.some((src) => src.includes(key(s))));
}

function report(results: Result[], sentences: string[], seen: string[]): string {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
    .toString()
    .trim();
  const argv = process.argv.slice(2).map(quote).join(' ');
  const L: string[] = [];
  L.push('# German-English translation on the built-in FreeDict sets', '');
  L.push(
    `Generated by \`node --import tsx scripts/report-translation.ts${argv ? ' ' + argv : ''}\` at commit ${commit}, ${new Date().toISOString().slice(0, 10)}; ` +
      `${runEnvironment()}, Node ${process.version}; seed 1337 (the CLI's default); the machine may have been shared with other jobs, so times are upper bounds.`,
  );
  if (args.quick)
    L.push('', '**A smoke run (--quick: tiny preset, 30 steps): the numbers below mean nothing.**');
  L.push('', '## Data (`transformer info --data`)', '');
  L.push('| data set | pairs | train | valid | test | full sentences |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const name of new Set(results.map((r) => r.run.data))) {
    const c = datasetInfo(name).counts;
    const n = (x: number | undefined): string => x?.toLocaleString('en-US') ?? '-';
    L.push(
      `| ${name} | ${n(c?.total)} | ${n(c?.train)} | ${n(c?.valid)} | ${n(c?.test)} | ${n(c?.sentences)} |`,
    );
  }
  L.push(
    '',
    'Example pairs of both Debian FreeDict dictionaries (GPL-3.0/AGPL-3.0, installed at set-up, never committed), normalized (a phrase whose English lists alternatives keeps the first; a sentence keeps its first translation), deduplicated, split 90/5/5 by a fixed seed with pairs that share a sentence kept in one part. Training drops pairs longer than 64 tokens.',
  );
  L.push('', '## Runs', '');
  L.push(
    `| run | data | steps | training time | wall time | valid BLEU (greedy, 200) | time to 90% of it | test BLEU greedy | test BLEU beam ${testBeam} | test sentences |`,
  );
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results)
    L.push(
      `| ${r.run.name} | ${r.run.data} | ${r.steps} | ${r.trainSeconds.toFixed(0)} s | ${r.wallSeconds.toFixed(0)} s | ${fixed(r.validBleu)} | ${r.timeToBleu ? `${r.timeToBleu.seconds.toFixed(0)} s (step ${r.timeToBleu.step})` : '-'} | ${fixed(r.testGreedy.bleu)} | ${fixed(r.testBeam.bleu)} | ${r.testBeam.sentences} |`,
    );
  L.push(
    '',
    "Time to 90%: the training seconds at the first evaluation whose validation BLEU reached 90% of the run's last evaluation (before checkpoint averaging; `timeToMetric` in src/train/time-to-metric.ts). Run the report with `TRANSFORMER_GEMM=openblas` for the time before the GEMM library change (issue #15).",
  );
  L.push('', 'The commands:', '', '```sh', ...results.map((r) => r.command), '```');
  L.push(
    '',
    `Test BLEU is \`transformer eval --data <set> --beam 1\` and \`--beam ${testBeam}\` on the held-out test split (sacreBLEU 13a, one reference). ` +
      `Before issue #19, the default run scored ${BEFORE.bleu} test BLEU on ${BEFORE.note}. ` +
      'The freedict-de-en-sentences test split is a different (smaller, sentences-only) set of pairs, so its BLEU is not directly comparable with the others.',
  );
  const def = results.find((r) => r.run.name === 'default');
  if (def && typeof def.testBeam.bleu === 'number')
    L.push(
      '',
      `Reading: the default run reaches ${def.testBeam.bleu.toFixed(2)} test BLEU with beam ${testBeam} (${fixed(def.testGreedy.bleu)} greedy) after ${def.trainSeconds.toFixed(0)} s of training, ` +
        `${(Number(def.testGreedy.bleu) / BEFORE.bleu).toFixed(2)}x the ${BEFORE.bleu} of before (greedy to greedy).`,
    );
  L.push('', `## BLEU by source length (test split, beam ${testBeam})`, '');
  const labels = Object.keys(results[0]?.testBeam ?? {})
    .filter((k) => k.startsWith('sentences_'))
    .map((k) => k.slice('sentences_'.length));
  L.push(
    `| source tokens | ${results.map((r) => `${r.run.name}: sentences | BLEU`).join(' | ')} |`,
  );
  L.push(`| --- | ${results.map(() => '---: | ---:').join(' | ')} |`);
  for (const b of labels)
    L.push(
      `| ${b} | ${results.map((r) => `${r.testBeam[`sentences_${b}`]} | ${fixed(r.testBeam[`bleu_${b}`])}`).join(' | ')} |`,
    );
  L.push(
    '',
    'Source length in 13a tokens (words and punctuation); each bucket is scored as a corpus of its own (src/metrics/bleu-buckets.ts).',
  );
  for (const r of results) {
    const scored = labels.filter((b) => typeof r.testBeam[`bleu_${b}`] === 'number');
    if (scored.length === 0) continue;
    const best = scored.reduce((a, b) =>
      Number(r.testBeam[`bleu_${b}`]) > Number(r.testBeam[`bleu_${a}`]) ? b : a,
    );
    L.push(
      '',
      `Reading (${r.run.name}): the best bucket is ${best} tokens (${fixed(r.testBeam[`bleu_${best}`])} BLEU on ${r.testBeam[`sentences_${best}`]} sentences).`,
    );
  }
  const avg = results.filter((r) => r.averaged);
  if (avg.length) {
    L.push('', '## Checkpoint averaging (validation split)', '');
    L.push(
      '| run | validations averaged | from step | valid loss last | valid loss averaged | valid BLEU last | valid BLEU averaged |',
    );
    L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of avg) {
      const a = r.averaged!;
      L.push(
        `| ${r.run.name} | ${a.averaged_checkpoints} | ${a.averaged_from_step} | ${fixed(a.valid_loss_last, 4)} | ${fixed(a.valid_loss_averaged, 4)} | ${fixed(a.valid_bleu_last)} | ${fixed(a.valid_bleu_averaged)} |`,
      );
      const d = a.valid_bleu_averaged - a.valid_bleu_last;
      L.push(
        '',
        `Reading (${r.run.name}): averaging the last ${a.averaged_checkpoints} validations ${d > 0 ? 'raises' : d < 0 ? 'lowers' : 'leaves'} validation BLEU ${d === 0 ? 'unchanged' : `by ${Math.abs(d).toFixed(2)}`} and ${a.valid_loss_averaged < a.valid_loss_last ? 'lowers' : 'raises'} the validation loss from ${fixed(a.valid_loss_last, 4)} to ${fixed(a.valid_loss_averaged, 4)}; the saved model is the average. ` +
          "It trains exactly as the default run (same data, seed and recipe): its last model is the default run's model.",
      );
    }
  }
  L.push('', '## Ten everyday sentences', '');
  L.push(
    seen.length === 0
      ? 'data/translation/everyday-de.txt, written before the runs; none of them occurs in freedict-de-en (as a source sentence or inside one). Translated with `transformer translate` (beam 4, length penalty 0.6).'
      : `Warning: these occur in the data: ${seen.join('; ')}.`,
    '',
  );
  L.push(`| German | ${results.map((r) => r.run.name).join(' | ')} |`);
  L.push(`| --- | ${results.map(() => '---').join(' | ')} |`);
  const cell = (s: string | undefined): string => (s ?? '').replace(/\|/g, '\\|');
  sentences.forEach((s, i) =>
    L.push(`| ${cell(s)} | ${results.map((r) => cell(r.everyday[i])).join(' | ')} |`),
  );
  L.push('', '## Loss curves', '');
  for (const r of results) {
    const svg = `translation-${r.run.name}-loss.svg`;
    copyFileSync(resolve(ROOT, r.dir, 'loss.svg'), join(dirname(out), svg));
    L.push(`${r.run.name} (${r.run.what}):`, '', `![loss of the ${r.run.name} run](${svg})`, '');
  }
  return L.join('\n');
}

const sentences = readFileSync(EVERYDAY, 'utf8').trim().split('\n');
const seen = inData(sentences);
const out = resolve(ROOT, args.out);
if (!existsSync(dirname(out))) mkdirSync(dirname(out), { recursive: true });
const results = runs.map((r) => runOne(r, sentences));
writeFileSync(out, report(results, sentences, seen));
process.stderr.write(`wrote ${args.out}\n`);
