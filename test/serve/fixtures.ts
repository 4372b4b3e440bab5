/**
 * Tiny trained model directories for the server tests (the `tiny` preset, a few steps of
 * `transformer train` in-process on the CLI tests' data), and a server-sent-events reader.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli, classifyTsv, lmText, lmTrain, tmp, translateTsv } from '../cli/in-process.js';
import type { Translator } from '../../src/index.js';

/** Train the requested kinds of models (`steps` steps each) into a temporary folder; their directories. */
export async function tinyModels(
  kinds: ('translate' | 'lm' | 'classify')[],
  steps = 3,
): Promise<Record<'translate' | 'lm' | 'classify', string>> {
  const d = tmp();
  const dirs = { translate: join(d, 'tr'), lm: join(d, 'lm'), classify: join(d, 'cl') };
  const common = ['--preset', 'tiny', '--steps', String(steps), '--batch-tokens', '200'];
  const args = {
    translate: ['train', '--task', 'translate', '--data', translateTsv(d), ...common],
    lm: lmTrain(lmText(d), dirs.lm, '--steps', String(steps)),
    classify: ['train', '--task', 'classify', '--data', classifyTsv(d), ...common],
  };
  for (const k of kinds) {
    const r = await cli(k === 'lm' ? args.lm : [...args[k], '--out', dirs[k]]);
    assert.equal(r.code, 0, r.err);
  }
  return dirs;
}

/** The events of a text/event-stream body: { event, data (parsed JSON) }. */
export function parseEvents(body: string): { event: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((block) => {
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

/**
 * The source of the fixture's sentences whose greedy translation is longest, with it (a model
 * trained a few steps may stop at once on some).
 */
export function longestGreedy(tr: Translator, maxLen: number): [string, string] {
  return ['ich bin hier', 'du bist da', 'wir sind hier', 'er ist da']
    .map((s): [string, string] => [s, tr.translate([s], { beam: 1, maxLen })[0]])
    .sort((a, b) => b[1].length - a[1].length)[0];
}
