/**
 * What the translation scripts (report-translation.ts, translation-recipe.ts) share: the
 * `transformer` CLI run from source as a child process, and shell quoting for the command
 * lines they print.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Run `transformer ...cliArgs` from source (`node --import tsx src/cli/main.ts`, the same code
 * as `npx transformer`) in the repository root; its stderr goes to this process's stderr.
 * @param capture return its stdout (else it is shown too).
 * @throws Error naming the command when it exits with a non-zero status.
 */
export function transformer(cliArgs: string[], capture: boolean): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...cliArgs], {
    cwd: ROOT,
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(`transformer ${cliArgs.join(' ')} exited with ${r.status ?? r.signal}`);
  return r.stdout ?? '';
}

/** A shell word: as is when safe, else single-quoted. */
export function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/** A number with d decimals, '-' for a missing value, a string as is. */
export function fixed(x: number | string | undefined, d = 2): string {
  return typeof x === 'number' ? x.toFixed(d) : (x ?? '-');
}
