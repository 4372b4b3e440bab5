/**
 * The file readers under a bounded, seeded fuzz on every CI run (issue #11, test/fuzz/fuzz.ts):
 * 2,000 mutated safetensors files, 400 tokenizer.json files and 400 model-directory
 * config.json files (mutations up to 256 KB), each read or refused with the reader's own
 * error naming the file, within the per-case time (5 s) and memory (256 MB) bounds.
 * `npm run fuzz -- --cases N` runs more; a failure prints the command that reruns it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFailure, runFuzz } from './fuzz.js';
import { namesFile } from './targets.js';

const CASES = { safetensors: 2000, tokenizer: 400, config: 400 };

for (const [target, cases] of Object.entries(CASES)) {
  test(`fuzz: ${cases} mutated ${target} files, no crash, every error names the file`, async () => {
    const r = await runFuzz({ seed: 11, cases, targets: [target], maxBytes: 256_000 });
    assert.equal(r.cases, cases);
    assert.equal(r.targets[target].accepted + r.targets[target].refused, cases);
    assert.deepEqual(r.failures.map(formatFailure), []);
  });
}

test('the fuzz check flags crashes, non-Errors and messages that do not name the file', () => {
  const path = '/tmp/x/model.safetensors';
  assert.equal(namesFile(new Error(`${path}: header is not valid JSON`), path), null);
  assert.match(
    namesFile(new RangeError(`${path}: too deep`), path) ?? '',
    /crashed with RangeError/,
  );
  assert.match(namesFile(new TypeError('x is undefined'), path) ?? '', /crashed with TypeError/);
  assert.match(namesFile(new Error('tensor "w": truncated'), path) ?? '', /does not name/);
  assert.match(namesFile('boom', path) ?? '', /non-Error/);
});
