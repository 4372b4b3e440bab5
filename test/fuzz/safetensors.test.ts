/**
 * The safetensors reader under a bounded, seeded fuzz (issue #11, test/fuzz/fuzz.ts): 2000 mutated
 * files, each refused with the reader's own error naming the file (or read), within the
 * per-case time and memory bounds. `npm run fuzz -- --cases N --target safetensors` runs more.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFailure, runFuzz } from './fuzz.js';

test('fuzz: 2000 mutated safetensors files, no crash, every error names the file', async () => {
  const seed = 11;
  const r = await runFuzz({ seed, cases: 2000, targets: ['safetensors'], maxBytes: 256_000 });
  assert.equal(r.cases, 2000);
  assert.deepEqual(r.failures.map(formatFailure), []);
});
