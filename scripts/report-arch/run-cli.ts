/**
 * One training run of the architecture report (scripts/report-architecture.ts): the
 * `transformer train` command in a child process (`node bin/transformer.js`, built by
 * `npm run build`), its peak resident set size read by GNU time (`/usr/bin/time -f %M`,
 * the child alone), and the figures read back from the run directory (metrics.jsonl) and
 * the command's log (parameters, test BLEU, test accuracy).
 *
 * A finished run leaves RUN.result.json next to its directory; `reuse` takes it instead of
 * training again (to resume an interrupted report).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readMetrics } from '../../src/tasks/report.js';

/** The repository root (two levels above this file). */
export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

const TIME = '/usr/bin/time';

/** What one run measured. */
export interface RunResult {
  name: string;
  /** The command as a user types it (`transformer train ...`). */
  command: string;
  /** The run directory (absolute). */
  dir: string;
  /** Validation loss at the last step. */
  validLoss: number;
  /** Training throughput: target tokens (classification: examples) per second, evaluations left out. */
  rate: number;
  /** Wall seconds of the training loop (evaluations included), from metrics.jsonl. */
  trainSeconds: number;
  /** Wall seconds of the whole command (data, tokenizer, training, test). */
  wallSeconds: number;
  /** Peak RSS of the child process in MiB (null: /usr/bin/time not installed). */
  peakRssMb: number | null;
  parameters: number | null;
  testBleu: number | null;
  testAccuracy: number | null;
  /** Training loss, running mean over 50 steps: [step, loss]. */
  trainCurve: [number, number][];
  /** Validation loss at each evaluation: [step, loss]. */
  validCurve: [number, number][];
  /** Last lines of the log when the command failed. */
  error?: string;
}

/** Quote an argument for a POSIX shell when it needs it. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/**
 * Training throughput from metrics.jsonl: tokens over seconds of the steps that followed
 * neither an evaluation nor the first step (their time holds the evaluation, checkpoint,
 * or start-up).
 */
export function trainingRate(rows: Record<string, number>[]): number {
  let tokens = 0;
  let seconds = 0;
  for (let i = 1; i < rows.length; i++) {
    const [prev, r] = [rows[i - 1], rows[i]];
    if (prev.valid_loss !== undefined || typeof r.tokens !== 'number' || prev.step === undefined)
      continue;
    tokens += r.tokens;
    seconds += r.seconds - prev.seconds;
  }
  return seconds > 0 ? tokens / seconds : NaN;
}

/** Running mean of the training loss over `window` steps: [step, loss]. */
export function smoothedLoss(rows: Record<string, number>[], window = 50): [number, number][] {
  const out: [number, number][] = [];
  const last: number[] = [];
  for (const r of rows) {
    if (typeof r.loss !== 'number') continue;
    last.push(r.loss);
    if (last.length > window) last.shift();
    out.push([r.step, last.reduce((a, b) => a + b, 0) / last.length]);
  }
  return out;
}

/** A number from the first match of `re` in `log` (commas removed), or null. */
function grab(log: string, re: RegExp): number | null {
  const m = re.exec(log);
  return m ? Number(m[1].replace(/,/g, '')) : null;
}

/**
 * Run `transformer train ARGS --seed SEED --out WORK/NAME --overwrite` in a child process.
 * @param args the train options (without --out, --seed, --overwrite).
 * @param work the directory that holds the runs (the command shows it relative to the root).
 * @param reuse take WORK/NAME.result.json when it exists instead of training.
 * @returns the measurements; `error` set (and NaN figures) when the command failed.
 */
export function trainRun(
  name: string,
  args: string[],
  o: { work: string; seed: number; reuse: boolean },
): RunResult {
  const dir = join(o.work, name);
  const cached = `${dir}.result.json`;
  if (o.reuse && existsSync(cached)) return JSON.parse(readFileSync(cached, 'utf8')) as RunResult;
  const full = ['train', ...args, '--seed', String(o.seed), '--out', dir, '--overwrite'];
  const rel = (a: string): string => (a.startsWith(`${ROOT}/`) ? relative(ROOT, a) : a);
  const shown = ['transformer', 'train', ...args.map(rel), '--seed', String(o.seed)];
  shown.push('--out', relative(ROOT, dir));
  const node = [process.execPath, join(ROOT, 'bin', 'transformer.js'), ...full];
  const timed = existsSync(TIME);
  const t0 = Date.now();
  const p = spawnSync(
    timed ? TIME : node[0],
    timed ? ['-f', 'peak-rss-kb %M', ...node] : node.slice(1),
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
      env: { ...process.env, TERM: 'dumb' },
    },
  );
  const wallSeconds = (Date.now() - t0) / 1000;
  const log = `${p.stdout ?? ''}\n${p.stderr ?? ''}`;
  writeFileSync(`${dir}.log`, log);
  const rows = readMetrics(dir);
  const validRows = rows.filter((r) => r.valid_loss !== undefined);
  const result: RunResult = {
    name,
    command: shown.map(shellQuote).join(' '),
    dir,
    validLoss: validRows.length ? validRows[validRows.length - 1].valid_loss : NaN,
    rate: trainingRate(rows),
    trainSeconds: rows.length ? rows[rows.length - 1].seconds : NaN,
    wallSeconds,
    peakRssMb: timed ? (grab(log, /peak-rss-kb (\d+)/) ?? NaN) / 1024 : null,
    parameters: grab(log, /([\d,]+) parameters/),
    testBleu: grab(log, /test BLEU[^:]*: BLEU = ([\d.]+)/),
    testAccuracy: grab(log, /test accuracy: ([\d.]+)%/),
    trainCurve: smoothedLoss(rows),
    validCurve: validRows.map((r) => [r.step, r.valid_loss]),
  };
  if (p.status !== 0) {
    result.error = log
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('peak-rss-kb'))
      .slice(-3)
      .join(' / ');
  } else writeFileSync(cached, JSON.stringify(result));
  return result;
}
