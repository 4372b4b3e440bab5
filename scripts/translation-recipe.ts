/**
 * Recipe search for the default translation run (issue #19): every combination of the given
 * presets, peak learning rates and batch sizes trains for the same time budget on the
 * training split, and is scored on the validation split (never the test split). Prints a
 * table sorted by validation BLEU, and writes it as Markdown with --out.
 *
 * Equal time, not equal steps: a short calibration run per (preset, batch) measures the
 * seconds per step (steps 5..20, after the first steps' warm-up), and the run then gets
 * floor(budget / seconds per step) steps, so its cosine schedule ends when the budget does.
 * Validations during the run and data loading are not counted in the budget.
 *
 *   node --import tsx scripts/translation-recipe.ts [--data freedict-de-en] [--budget 600]
 *     [--presets compact,small] [--lrs 1e-3,2e-3] [--batch-tokens 1000,2000]
 *     [--valid-limit 1000] [--runs-dir runs/recipe] [--out docs/translation-recipe-search.md] [--quick]
 *
 * --quick is a smoke run (tiny preset, a 15 s budget, 50 validation sentences).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readMetrics } from '../src/tasks/report.js';
import { fixed, quote, ROOT, transformer } from './translation-common.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'freedict-de-en' },
    budget: { type: 'string' },
    presets: { type: 'string' },
    lrs: { type: 'string' },
    'batch-tokens': { type: 'string' },
    'valid-limit': { type: 'string' },
    'runs-dir': { type: 'string', default: 'runs/recipe' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});

/** A comma list of positive numbers, the option named in the error. */
function numbers(name: string, v: string): number[] {
  const out = v.split(',').map(Number);
  if (out.some((x) => !(x > 0)))
    throw new Error(`--${name} must be a comma list of positive numbers, got '${v}'`);
  return out;
}

const q = args.quick;
const budget = numbers('budget', args.budget ?? (q ? '15' : '600'))[0];
const presets = (args.presets ?? (q ? 'tiny' : 'compact,small')).split(',');
const lrs = numbers('lrs', args.lrs ?? (q ? '1e-3' : '1e-3,2e-3'));
const batches = numbers('batch-tokens', args['batch-tokens'] ?? (q ? '600' : '1000,2000'));
const validLimit = numbers('valid-limit', args['valid-limit'] ?? (q ? '50' : '1000'))[0];

/** Train `name` with the given arguments (fresh directory); returns its metrics.jsonl. */
function train(name: string, extra: string[]): Record<string, number>[] {
  const dir = join(args['runs-dir'], name);
  rmSync(resolve(ROOT, dir), { recursive: true, force: true });
  transformer(['train', '--task', 'translate', '--data', args.data, '--out', dir, ...extra], false);
  return readMetrics(resolve(ROOT, dir));
}

/** Seconds per optimizer step of a preset and batch size, from steps 5..20 of a short run. */
const calibrated = new Map<string, number>();
function secondsPerStep(preset: string, batch: number): number {
  const key = `${preset}/${batch}`;
  let s = calibrated.get(key);
  if (s === undefined) {
    const m = train(`calibrate-${preset}-${batch}`, [
      ...['--preset', preset, '--batch-tokens', String(batch)],
      ...['--steps', '20', '--eval-every', '1000'],
    ]);
    const at = (step: number): number => m.find((r) => r.step === step)!.seconds;
    s = (at(20) - at(5)) / 15;
    calibrated.set(key, s);
  }
  return s;
}

/** One row of the table. */
interface Row {
  preset: string;
  lr: number;
  batch: number;
  secondsPerStep: number;
  steps: number;
  trainSeconds: number;
  validLoss: number;
  validBleu: number;
  command: string;
}

const rows: Row[] = [];
for (const preset of presets)
  for (const batch of batches)
    for (const lr of lrs) {
      const sps = secondsPerStep(preset, batch);
      const steps = Math.max(1, Math.floor(budget / sps));
      const name = `${preset}-b${batch}-lr${lr}`;
      const trainArgs = [
        ...['--preset', preset, '--batch-tokens', String(batch), '--lr', String(lr)],
        ...['--steps', String(steps)],
      ];
      process.stderr.write(`\n== ${name}: ${steps} steps (${sps.toFixed(3)} s/step)\n`);
      const m = train(name, trainArgs);
      const dir = join(args['runs-dir'], name);
      const valid = JSON.parse(
        transformer(
          ['eval', '--model', dir, '--data', args.data, '--split', 'valid', '--beam', '1'].concat([
            '--limit',
            String(validLimit),
            '--json',
          ]),
          true,
        ),
      ) as { bleu: number };
      const evals = m.filter((r) => r.valid_loss !== undefined);
      rows.push({
        preset,
        lr,
        batch,
        secondsPerStep: sps,
        steps,
        trainSeconds: m.filter((r) => typeof r.seconds === 'number').at(-1)?.seconds ?? NaN,
        validLoss: evals.at(-1)?.valid_loss ?? NaN,
        validBleu: valid.bleu,
        command: `npx transformer train --task translate --data ${args.data} ${trainArgs.map(quote).join(' ')}`,
      });
    }

rows.sort((a, b) => b.validBleu - a.validBleu);
const table = [
  `Recipe search on ${args.data}: ${budget} s of training each, scored on the validation split (valid loss: all of it; BLEU: greedy, first ${validLimit} sentences).${q ? ' A smoke run (--quick): the numbers mean nothing.' : ''}`,
  '',
  '| preset | lr | batch tokens | s/step | steps | training time | valid loss | valid BLEU |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.preset} | ${r.lr} | ${r.batch} | ${r.secondsPerStep.toFixed(3)} | ${r.steps} | ${fixed(r.trainSeconds, 0)} s | ${fixed(r.validLoss, 4)} | ${fixed(r.validBleu)} |`,
  ),
  '',
  'The commands, best first:',
  '',
  '```sh',
  ...rows.map((r) => r.command),
  '```',
].join('\n');
process.stdout.write(table + '\n');
if (args.out) writeFileSync(resolve(ROOT, args.out), table + '\n');
