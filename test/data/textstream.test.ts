// Text read and cut in chunks (issue 11, item 12): same text as readText, safe cuts only,
// UTF-8 errors with byte offsets across block boundaries, and the caps on line length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  CHUNK_CHARS,
  DataError,
  MAX_LINE_CHARS,
  MAX_STRETCH,
  readParallelTsv,
  readText,
  textChunks,
  textFile,
} from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tts-stream-'));
function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
const BLOCK = 1 << 20; // textstream.ts reads the file in blocks of 1 MiB
const WS = /^\p{White_Space}$/u;

/** Every cut is rule A (' ' between non-spaces) or rule B ('\n' after a non-space, before one). */
function assertSafeCuts(chunks: string[]): void {
  const text = chunks.join('');
  let p = 0;
  for (const c of chunks.slice(0, -1)) {
    p += c.length;
    const [a, b, x, y] = [text[p - 2], text[p - 1], text[p], text[p + 1]];
    const ruleA = x === ' ' && !WS.test(b) && !WS.test(y);
    const ruleB = b === '\n' && !WS.test(a) && !WS.test(x);
    assert.ok(ruleA || ruleB, `unsafe cut at ${p}: ${JSON.stringify(text.slice(p - 3, p + 3))}`);
  }
}

test('a long string is cut into chunks of about CHUNK_CHARS, only at safe positions', () => {
  const words = ['word', 'x', '\n', '  ', '\n\n', '42,', 'ü', '😀', ' \n', '\t', "it's"];
  let text = '';
  for (let i = 0; text.length < 20 * CHUNK_CHARS; i++) text += words[(i * 7919) % 11] + ' ';
  const chunks = [...textChunks(text)];
  assert.equal(chunks.join(''), text);
  assert.ok(chunks.length >= 15, `${chunks.length} chunks`);
  assert.ok(chunks.every((c) => c.length <= 2 * CHUNK_CHARS));
  assertSafeCuts(chunks);
  assert.deepEqual([...textChunks('short')], ['short']);
});

test('a file reads as readText does: BOM, CRLF across a block boundary, UTF-8 across one', () => {
  // '\r' is the last byte of block 0 and '\n' the first of block 1; 'é' straddles block 1 | 2.
  const head = '\uFEFF' + 'ab cd\r\n'.repeat(10);
  const pad1 = 'x'.repeat(BLOCK - Buffer.byteLength(head) - 1);
  const part1 = head + pad1 + '\r\n';
  const pad2 = ' y'.repeat((BLOCK - 2) / 2); // ends one byte before block 2
  const text = part1 + pad2 + 'é tail\r\n';
  assert.equal(Buffer.byteLength(part1 + pad2), 2 * BLOCK - 1, "'é' is bytes 2 MiB - 1 and 2 MiB");
  const p = file('big.txt', text);
  const chunks = [...textChunks(textFile(p))];
  assert.equal(chunks.join(''), readText(p));
  assert.ok(!chunks.join('').includes('\r'));
  assert.ok(!chunks.join('').startsWith('\uFEFF'));
  assertSafeCuts(chunks);
  // Iterable twice (the LM task trains the tokenizer, then encodes).
  const source = textChunks(textFile(p));
  assert.equal([...source].join(''), [...source].join(''));
});

test('invalid UTF-8 in a later block or across a block boundary names the byte offset', () => {
  const good = Buffer.from('a b '.repeat(BLOCK / 2)); // 2 MiB of text
  const late = Buffer.from(good);
  late[BLOCK + 12345] = 0xff;
  const cross = Buffer.concat([good.subarray(0, BLOCK - 1), Buffer.from([0xe2, 0x82, 0x41])]);
  const trunc = Buffer.concat([good.subarray(0, BLOCK - 1), Buffer.from([0xe2, 0x82])]);
  const nul = Buffer.from(good);
  nul[BLOCK + 7] = 0;
  const cases: [string, Buffer, string][] = [
    ['late.txt', late, `invalid UTF-8 sequence (byte 0xFF) at byte offset ${BLOCK + 12345}`],
    ['cross.txt', cross, `invalid UTF-8 sequence (bytes 0xE2 0x41) at byte offset ${BLOCK - 1}`],
    ['trunc.txt', trunc, `truncated UTF-8 sequence at the end (byte 0xE2) at byte offset ${BLOCK - 1}`],
    ['nul.txt', nul, `NUL byte (a binary file?) at byte offset ${BLOCK + 7}`],
  ];
  for (const [name, bytes, detail] of cases) {
    const p = file(name, bytes);
    assert.throws(
      () => [...textChunks(textFile(p))],
      (e: Error) => e instanceof DataError && e.message === `${p}: not UTF-8 text: ${detail}`,
    );
  }
});

test('text without a safe cut for MAX_STRETCH characters is refused with file and line', () => {
  const long = 'line one\nline two\n' + 'a'.repeat(MAX_STRETCH + 10) + ' end\n';
  assert.throws(
    () => [...textChunks(long)],
    (e: Error) =>
      e instanceof DataError &&
      e.message.startsWith(`text:3: more than ${MAX_STRETCH} characters without a space`),
  );
  const p = file('long.txt', long);
  assert.throws(() => [...textChunks(textFile(p))], new RegExp(`^DataError: ${p}:3: more than`));
  assert.throws(() => textFile(file('empty.txt', '')), /empty\.txt: file is empty/);
  assert.throws(() => textFile(join(dir, 'nope.txt')), /nope\.txt: no such file/);
});

test('a TSV line longer than MAX_LINE_CHARS is refused with file and line', () => {
  const p = file('long.tsv', `a\tb\n${'x'.repeat(MAX_LINE_CHARS + 1)}\tc\n`);
  assert.throws(
    () => readParallelTsv(p),
    (e: Error) =>
      e instanceof DataError &&
      e.message.startsWith(`${p}:2: line of ${MAX_LINE_CHARS + 3} characters, longer than the limit`),
  );
});
