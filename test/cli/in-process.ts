/**
 * Run the `transformer` CLI in this process (much faster than spawning one per call),
 * capturing what it writes to stdout and stderr and its exit code; and tiny data files.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/index.js';
import { output } from '../../src/cli/output.js';

/** Run `transformer ...args` in-process. */
export async function cli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const saved = { ...output };
  output.out = (s) => void (out += s);
  output.err = (s) => void (err += s);
  process.exitCode = 0;
  try {
    await main(args);
  } finally {
    Object.assign(output, saved);
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out, err, code };
}

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'tts-cli-'));

/** A small text for lm (about 2,000 characters, 12 distinct). */
export function lmText(dir: string): string {
  const path = join(dir, 'text.txt');
  writeFileSync(path, 'to be or not to be, that is the question. '.repeat(50));
  return path;
}

/** A classify TSV of `n` lines, two labels. */
export function classifyTsv(dir: string, n = 60): string {
  const path = join(dir, 'labels.tsv');
  const rows = ['great movie\tpos', 'loved it\tpos', 'terrible film\tneg', 'hated it\tneg'];
  writeFileSync(path, Array.from({ length: n }, (_, i) => rows[i % 4]).join('\n') + '\n');
  return path;
}

/** A translate TSV of `n` lines. */
export function translateTsv(dir: string, n = 60): string {
  const path = join(dir, 'pairs.tsv');
  const pairs = [
    'ich bin hier\ti am here',
    'du bist da\tyou are there',
    'wir sind hier\twe are here',
    'er ist da\the is there',
    'sie ist hier\tshe is here',
  ];
  writeFileSync(path, Array.from({ length: n }, (_, i) => pairs[i % 5]).join('\n') + '\n');
  return path;
}

/** `train --task lm` on the tiny preset, with the extra arguments. */
export const lmTrain = (data: string, out: string, ...extra: string[]): string[] => [
  'train',
  '--task',
  'lm',
  '--data',
  data,
  '--preset',
  'tiny',
  '--batch-size',
  '2',
  '--out',
  out,
  ...extra,
];
