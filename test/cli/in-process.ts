/**
 * Run the `transformer` CLI in this process (much faster than spawning one per call),
 * capturing what it writes to stdout and stderr and its exit code; tiny data files, the
 * `train` arguments of the tiny preset, tiny trained model directories, and the checks every
 * translate model directory passes (shared by the CLI, task, export and server tests).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/index.js';
import { output } from '../../src/cli/output.js';

/** What one `transformer` call printed and its exit code. */
export interface CliResult {
  out: string;
  err: string;
  code: number;
}

/** A way to run `transformer ...args`: in-process (`cli`) or as a child process. */
export type CliRunner = (args: string[]) => Promise<CliResult>;

/** Run `transformer ...args` in-process. */
export async function cli(args: string[]): Promise<CliResult> {
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

/** A small text for lm (`repeat` x 42 characters, 12 distinct; about 2,000 by default). */
export function lmText(dir: string, repeat = 50): string {
  const path = join(dir, 'text.txt');
  writeFileSync(path, 'to be or not to be, that is the question. '.repeat(repeat));
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

/** The tasks `transformer train` trains a tiny model for. */
export type TinyTask = 'translate' | 'lm' | 'classify';

/** `train --task <task>` on the tiny preset into `out`, with the extra arguments. */
export function tinyTrain(task: TinyTask, data: string, out: string, ...extra: string[]): string[] {
  return ['train', '--task', task, '--data', data, '--preset', 'tiny', '--out', out, ...extra];
}

/** `train --task lm` on the tiny preset (batch size 2), with the extra arguments. */
export const lmTrain = (data: string, out: string, ...extra: string[]): string[] =>
  tinyTrain('lm', data, out, '--batch-size', '2', ...extra);

/** Train the requested kinds of models (`steps` steps each) into a temporary folder; their directories. */
export async function tinyModels(kinds: TinyTask[], steps = 3): Promise<Record<TinyTask, string>> {
  const d = tmp();
  const dirs = { translate: join(d, 'tr'), lm: join(d, 'lm'), classify: join(d, 'cl') };
  const common = ['--steps', String(steps), '--batch-tokens', '200'];
  const args = {
    translate: () => tinyTrain('translate', translateTsv(d), dirs.translate, ...common),
    lm: () => lmTrain(lmText(d), dirs.lm, '--steps', String(steps)),
    classify: () => tinyTrain('classify', classifyTsv(d), dirs.classify, ...common),
  };
  for (const k of kinds) {
    const r = await cli(args[k]());
    assert.equal(r.code, 0, r.err);
  }
  return dirs;
}

/**
 * The checks every translate model directory passes from the CLI: `translate` greedy (one
 * line per input) and with a beam of `beam`, `eval --json` a BLEU in [0, 100]. Then it draws
 * the `attention` figure of the first pair of `translateTsv` into `svg` and returns that
 * call's result, for the caller to check (model kinds differ there).
 */
export async function checkTranslateDir(
  run: CliRunner,
  model: string,
  data: string,
  beam: number,
  svg: string,
): Promise<CliResult> {
  const t = await run(['translate', '--model', model, '--beam', '1', 'ich bin hier', 'du bist da']);
  assert.equal(t.code, 0, t.err);
  assert.equal(t.out.split('\n').length, 3, 'one line per input');
  const tb = await run(['translate', '--model', model, '--beam', String(beam), 'ich bin hier']);
  assert.equal(tb.code, 0, tb.err);
  const e = await run(['eval', '--model', model, '--data', data, '--beam', '1', '--json']);
  assert.equal(e.code, 0, e.err);
  const j = JSON.parse(e.out);
  assert.equal(j.task, 'translate');
  assert.ok(j.bleu >= 0 && j.bleu <= 100);
  const args = ['--model', model, '--text', 'ich bin hier', '--target', 'i am here', '--out', svg];
  return run(['attention', ...args]);
}
