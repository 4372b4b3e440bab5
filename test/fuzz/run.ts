/**
 * `npm run fuzz -- [--cases N] [--seed S] [--target safetensors,tokenizer,config] [--case K]
 *   [--max-bytes B]`:
 * the file-reader fuzz at any size (CI runs a few thousand cases in test/fuzz/*.test.ts).
 * Prints per-target counts, the slowest case, the largest memory growth and every failure
 * with the command that reruns it; exits 1 when a case failed.
 */
import { runFuzz } from './fuzz.js';
import { TARGET_NAMES } from './targets.js';
import { MAX_OUTPUT_BYTES } from './mutate.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function int(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`--${name}: expected an integer >= 0, got '${v}'`);
  return n;
}

const seed = int('seed', 1);
const cases = int('cases', 3000);
const maxBytes = int('max-bytes', MAX_OUTPUT_BYTES);
const only = arg('case') === undefined ? undefined : int('case', 0);
const targets = arg('target')?.split(',') ?? [...TARGET_NAMES];
const log = (line: string): void => void process.stdout.write(line + '\n');

log(
  `fuzz: seed ${seed}, ${only === undefined ? `${cases} cases` : `case ${only}`}, targets ${targets.join(', ')}`,
);
const r = await runFuzz({ seed, cases, targets, only, log, maxBytes });
for (const [name, t] of Object.entries(r.targets))
  log(`  ${name}: ${t.cases} cases, ${t.accepted} read, ${t.refused} refused with the right error`);
log(
  `${r.cases} cases in ${r.seconds.toFixed(1)} s; slowest case ${r.maxCaseMs.toFixed(0)} ms; ` +
    `largest resident memory growth ${(r.maxRssGrowthBytes / 1e6).toFixed(0)} MB; ${r.failures.length} failures`,
);
process.exitCode = r.failures.length ? 1 : 0;
