/**
 * The bounded, seeded fuzz of the file readers (issue #11): case k of a run with seed S picks
 * a target (round robin), a valid seed file and 1-3 mutations from a Generator seeded by
 * (S, k) alone, writes the file, reads it as the library does, and checks three things: a
 * failure is the reader's own error naming the file (FuzzTarget.check), the case took at most
 * `timeLimitMs`, and the process's resident memory grew by at most `memLimitBytes` during it
 * (its peak, from getrusage, when the case raised the peak). `--case K` reruns one case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/random.js';
import { MAX_OUTPUT_BYTES, mutate } from './mutate.js';
import { TARGET_NAMES, makeTargets, writeCase, type FuzzTarget } from './targets.js';

export interface FuzzOptions {
  seed: number;
  /** Cases in all, shared round robin by the targets. */
  cases: number;
  targets?: readonly string[];
  /** Run only this case number (as a failure report names it). */
  only?: number;
  /** Per case; default 5,000 ms (generous: the CI machine may be loaded). */
  timeLimitMs?: number;
  /** Largest mutated file; default 2 MB (MAX_OUTPUT_BYTES). CI uses less, to stay fast. */
  maxBytes?: number;
  /** Per case growth of resident memory; default 256 MB. */
  memLimitBytes?: number;
  /** Progress lines (every 5,000 cases) and failures as they happen. */
  log?: (line: string) => void;
}

export interface FuzzFailure {
  target: string;
  /** The run's seed and file size cap: with caseIndex, all that reproduces the case. */
  seed: number;
  maxBytes: number;
  caseIndex: number;
  mutations: string[];
  problem: string;
}

export interface FuzzReport {
  cases: number;
  /** Per target: cases, files read without error, files refused with the right error. */
  targets: Record<string, { cases: number; accepted: number; refused: number }>;
  failures: FuzzFailure[];
  maxCaseMs: number;
  maxRssGrowthBytes: number;
  seconds: number;
}

/** The Generator seed of case k of a run with seed S (independent of the other cases). */
export const caseSeed = (seed: number, k: number): number => seed * 2 ** 20 + k;

const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Run one case: mutate, write, read, check. @returns a problem, or 'accepted' / 'refused'. */
async function runCase(
  target: FuzzTarget,
  g: Generator,
  limits: { timeMs: number; memBytes: number; maxBytes: number },
): Promise<{
  outcome: 'accepted' | 'refused' | string;
  mutations: string[];
  ms: number;
  grew: number;
}> {
  const seed = target.seeds[g.randint(target.seeds.length)];
  const { bytes, applied } = mutate(seed.bytes, target.mutations, g, limits.maxBytes);
  writeCase(seed, bytes);
  const rss0 = process.memoryUsage().rss;
  const peak0 = peakRss();
  const t0 = performance.now();
  let outcome: string;
  try {
    await seed.read();
    outcome = 'accepted';
  } catch (e) {
    outcome = target.check(e, seed.path) ?? 'refused';
  }
  const ms = performance.now() - t0;
  const peak1 = peakRss();
  const grew = Math.max(process.memoryUsage().rss, peak1 > peak0 ? peak1 : 0) - rss0;
  if (outcome === 'accepted' || outcome === 'refused') {
    if (ms > limits.timeMs) outcome = `took ${ms.toFixed(0)} ms (limit ${limits.timeMs} ms)`;
    else if (grew > limits.memBytes)
      outcome = `resident memory grew ${(grew / 1e6).toFixed(0)} MB (limit ${(limits.memBytes / 1e6).toFixed(0)} MB)`;
  }
  return { outcome, mutations: applied, ms, grew };
}

/**
 * Run the fuzz. Seed files live in a temporary directory, removed at the end.
 * @returns the report; `failures` is empty when every case passed.
 */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'tts-fuzz-'));
  const names = o.targets ?? TARGET_NAMES;
  const limits = {
    timeMs: o.timeLimitMs ?? 5000,
    memBytes: o.memLimitBytes ?? 256e6,
    maxBytes: o.maxBytes ?? MAX_OUTPUT_BYTES,
  };
  const report: FuzzReport = {
    cases: 0,
    targets: Object.fromEntries(names.map((n) => [n, { cases: 0, accepted: 0, refused: 0 }])),
    failures: [],
    maxCaseMs: 0,
    maxRssGrowthBytes: 0,
    seconds: 0,
  };
  try {
    const targets = await makeTargets(dir, names);
    const first = o.only ?? 0;
    const last = o.only ?? o.cases - 1;
    for (let k = first; k <= last; k++) {
      const target = targets[k % targets.length];
      const r = await runCase(target, new Generator(caseSeed(o.seed, k)), limits);
      const t = report.targets[target.name];
      report.cases++;
      t.cases++;
      report.maxCaseMs = Math.max(report.maxCaseMs, r.ms);
      report.maxRssGrowthBytes = Math.max(report.maxRssGrowthBytes, r.grew);
      if (r.outcome === 'accepted') t.accepted++;
      else if (r.outcome === 'refused') t.refused++;
      else {
        const f: FuzzFailure = {
          target: target.name,
          seed: o.seed,
          maxBytes: limits.maxBytes,
          caseIndex: k,
          mutations: r.mutations,
          problem: r.outcome,
        };
        report.failures.push(f);
        o.log?.(formatFailure(f));
      }
      if ((k + 1) % 5000 === 0)
        o.log?.(
          `${k + 1} cases, ${report.failures.length} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
        );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** One line per failure, with the command that reruns it. */
export function formatFailure(f: FuzzFailure): string {
  return (
    `fuzz ${f.target} seed ${f.seed} case ${f.caseIndex} [${f.mutations.join(', ')}]: ${f.problem.slice(0, 300)}\n` +
    `  rerun: npm run fuzz -- --seed ${f.seed} --case ${f.caseIndex} --target ${f.target} --max-bytes ${f.maxBytes}`
  );
}
