/**
 * Peak memory of `train --task lm` tokenization (tokenizeCorpus on a file read in chunks) on a
 * large generated text, checked against the bound stated in src/tokenizers/stream.ts: peak RSS
 * growth < 4 bytes per token + STREAM_OVERHEAD_BYTES. Each measurement runs in a fresh child
 * process and reads VmHWM (the resident-set high-water mark) from /proc/self/status.
 *
 *   node --import tsx test/slow/corpus-memory.ts --check 300   # the 300 MB check (slow)
 *
 * test/tokenizers/stream-memory.test.ts runs the same check at 30 MB in the suite.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { textChunks, textFile } from '../../src/data/index.js';
import { STREAM_OVERHEAD_BYTES, tokenizeCorpus } from '../../src/tokenizers/index.js';
import { Generator } from '../../src/random.js';

/** One measurement. */
export interface CorpusMemory {
  kind: 'char' | 'bpe';
  tokens: number;
  /** VmHWM after tokenizing minus VmHWM before, bytes. */
  growthBytes: number;
  /** 4 * tokens + STREAM_OVERHEAD_BYTES. */
  boundBytes: number;
  seconds: number;
}

/** Resident-set high-water mark of this process, in bytes. */
export function vmHWM(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmHWM in /proc/self/status');
  return Number(m[1]) * 1024;
}

/** Write `mb` megabytes of seeded pseudo-English text to `path` (8 distinct 1 MiB blocks). */
export function makeCorpus(path: string, mb: number): void {
  const g = new Generator(12);
  const syl = ['ka', 'to', 'ri', 'mu', 'ne', 'sa', 'lo', 'pi', 'de', 'gu', 'an', 'th', 'er', 'ös'];
  const words = Array.from({ length: 3000 }, () =>
    Array.from({ length: 1 + g.randint(4) }, () => syl[g.randint(syl.length)]).join(''),
  );
  const blocks = Array.from({ length: 8 }, () => {
    let block = '';
    while (block.length < 1 << 20) {
      const line = Array.from({ length: 4 + g.randint(12) }, () => words[g.randint(words.length)]);
      block += line.join(' ') + (g.uniform() < 0.1 ? '.\n\n' : ',\n');
    }
    return Buffer.from(block);
  });
  const fd = openSync(path, 'w');
  try {
    for (let written = 0, i = 0; written < mb * 1e6; i++) written += writeSync(fd, blocks[i % 8]);
  } finally {
    closeSync(fd);
  }
}

/** Tokenize `path` in this process as `train --task lm` does and measure. */
function measureHere(path: string, kind: 'char' | 'bpe'): CorpusMemory {
  const baseline = vmHWM();
  const t0 = Date.now();
  const { ids } = tokenizeCorpus(textChunks(textFile(path)), { tokenizer: kind, vocabSize: 1000 });
  const growthBytes = vmHWM() - baseline;
  const boundBytes = 4 * ids.length + STREAM_OVERHEAD_BYTES;
  return { kind, tokens: ids.length, growthBytes, boundBytes, seconds: (Date.now() - t0) / 1000 };
}

/** Measure in a fresh child process (so that earlier allocations do not hide the peak). */
export function measure(path: string, kind: 'char' | 'bpe'): CorpusMemory {
  const script = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, '--child', path, kind], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as CorpusMemory;
}

/** Make an `mb` MB corpus in os.tmpdir(), measure the char and BPE paths, remove the corpus. */
export function checkCorpusMemory(mb: number): CorpusMemory[] {
  const dir = mkdtempSync(join(tmpdir(), 'tts-corpus-'));
  try {
    const path = join(dir, 'corpus.txt');
    makeCorpus(path, mb);
    return (['char', 'bpe'] as const).map((kind) => measure(path, kind));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === '--child') {
    process.stdout.write(JSON.stringify(measureHere(a, b === 'bpe' ? 'bpe' : 'char')) + '\n');
  } else if (mode === '--check') {
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
    let ok = true;
    for (const r of checkCorpusMemory(Number(a))) {
      const pass = r.growthBytes < r.boundBytes;
      ok &&= pass;
      process.stdout.write(
        `${a} MB ${r.kind}: ${r.tokens} tokens, peak RSS growth ${mib(r.growthBytes)} ` +
          `(${(r.growthBytes / r.tokens).toFixed(2)} B/token), bound ${mib(r.boundBytes)}, ` +
          `${r.seconds.toFixed(1)} s: ${pass ? 'ok' : 'OVER THE BOUND'}\n`,
      );
    }
    process.exitCode = ok ? 0 : 1;
  } else {
    process.stderr.write('usage: corpus-memory.ts --check MB | --child FILE char|bpe\n');
    process.exitCode = 2;
  }
}
