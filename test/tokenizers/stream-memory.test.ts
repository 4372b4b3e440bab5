// The memory bound of tokenizeCorpus (src/tokenizers/stream.ts): peak RSS growth of `train
// --task lm` tokenization is below 4 bytes per token + STREAM_OVERHEAD_BYTES, measured as VmHWM
// in child processes on a generated 30 MB text, with the char and the BPE tokenizer (issue 11,
// item 12). The same check at 300 MB: `node --import tsx test/slow/corpus-memory.ts --check 300`.
// Before streaming, the char path grew by ~35 bytes per token (1.0 GB at 30 MB) and V8 aborted
// at ~113 MB of text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCorpusMemory } from '../slow/corpus-memory.js';

test('tokenizing 30 MB for lm stays under 4 bytes per token + STREAM_OVERHEAD_BYTES', (t) => {
  if (process.platform !== 'linux') return t.skip('VmHWM needs /proc (Linux)');
  for (const r of checkCorpusMemory(30)) {
    assert.ok(r.tokens > (r.kind === 'char' ? 29e6 : 5e6), `${r.kind}: ${r.tokens} tokens`);
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
    assert.ok(
      r.growthBytes < r.boundBytes,
      `${r.kind}: peak RSS grew ${mib(r.growthBytes)} for ${r.tokens} tokens, bound ${mib(r.boundBytes)}`,
    );
  }
});
