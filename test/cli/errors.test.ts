/**
 * Errors name the file or option, in one line (issue #11 item 15): a corrupt config.json,
 * a truncated model.safetensors or tokenizer.json, a batch that cannot fit, empty input to
 * translate and attention.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cli, lmText, lmTrain, tinyModels, tmp } from './in-process.js';

let lmDir = '';
let trDir = '';
before(async () => {
  const dirs = await tinyModels(['lm', 'translate'], 2);
  lmDir = dirs.lm;
  trDir = dirs.translate;
});

/** A copy of a model directory with one file replaced. */
function spoil(src: string, file: string, bytes: (b: Buffer) => Buffer | string): string {
  const dir = join(tmp(), 'm');
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    const b = readFileSync(join(src, f));
    if (f === file) continue;
    writeFileSync(join(dir, f), b);
  }
  writeFileSync(join(dir, file), bytes(readFileSync(join(src, file))));
  return dir;
}

/** The error line of a failed command: exactly one line, naming `what`. */
function oneLine(r: { err: string; code: number }, what: string | RegExp): string {
  assert.equal(r.code, 1, r.err);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(
    lines[0],
    typeof what === 'string' ? new RegExp(what.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) : what,
  );
  return lines[0];
}

test('a corrupt config.json, truncated model.safetensors or tokenizer.json is named', async () => {
  const generate = (dir: string) => cli(['generate', '--model', dir, '--max-tokens', '3']);
  for (const [file, bytes] of [
    ['config.json', (b: Buffer) => b.subarray(0, 74)],
    ['config.json', () => '{"task": "lm", "model": "DecoderLM", "config": {"dModel": "wide"}}'],
    ['model.safetensors', (b: Buffer) => b.subarray(0, b.length - 100)],
    ['tokenizer.json', (b: Buffer) => b.subarray(0, 50)],
  ] as const) {
    const dir = spoil(lmDir, file, bytes);
    const line = oneLine(await generate(dir), join(dir, file));
    assert.doesNotMatch(line, /^transformer: (SyntaxError|TypeError|RangeError)/);
  }
});

test('--batch-size 100000 is refused before allocating, naming the option', async () => {
  const dir = tmp();
  const r = await cli(
    lmTrain(lmText(dir), join(dir, 'm'), '--steps', '1', '--batch-size', '100000'),
  );
  oneLine(
    r,
    /--batch-size 100000: a batch would need about [\d.]+ GiB of activations \(at most 4 GiB\); lower --batch-size/,
  );
});

test('empty input to translate and attention gives a message, not beamSearch: src must be (B, S)', async () => {
  oneLine(await cli(['translate', '--model', trDir, '']), 'translate: input 1 of 1 is empty');
  oneLine(await cli(['translate', '--model', trDir, 'ich bin hier', '']), 'input 2 of 2 is empty');
  const svg = join(tmp(), 'a.svg');
  oneLine(
    await cli(['attention', '--model', trDir, '--text', '', '--out', svg]),
    '--text: the text is empty',
  );
  oneLine(
    await cli(['attention', '--model', lmDir, '--text', '', '--out', svg]),
    '--text: the text is empty',
  );
});
