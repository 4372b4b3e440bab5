// Binary input is refused: data files must be strict UTF-8 text (issue 11, item 10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  DataError,
  readClassificationTsv,
  readParallelTsv,
  readText,
} from '../../src/data/index.js';
import { findUtf8Problem } from '../../src/data/utf8.js';

const dir = mkdtempSync(join(tmpdir(), 'tts-utf8-'));
function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

test('a binary data file is refused with the file and the byte offset of the first bad byte', () => {
  // "ok" + PNG signature: 0x89 is a lone continuation byte at offset 2.
  const png = file('image.tsv', Buffer.from([0x6f, 0x6b, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]));
  const expected = `${png}: not UTF-8 text: invalid UTF-8 sequence (byte 0x89) at byte offset 2`;
  for (const read of [readText, readParallelTsv, readClassificationTsv]) {
    assert.throws(
      () => read(png),
      (e: Error) => e instanceof DataError && e.message === expected,
    );
  }
  const nul = file('nul.txt', Buffer.from('abc\0def'));
  assert.throws(() => readText(nul), {
    message: `${nul}: not UTF-8 text: NUL byte (a binary file?) at byte offset 3`,
  });
});

test('findUtf8Problem follows Unicode Table 3-7 (well-formed UTF-8)', () => {
  const at = (bytes: number[]) => findUtf8Problem(Uint8Array.from(bytes))?.offset ?? -1;
  assert.equal(at([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]), -1); // aé€😀
  assert.equal(at([0x61, 0xc0, 0x80]), 1); // overlong NUL
  assert.equal(at([0x61, 0x62, 0xe0, 0x80, 0x80]), 2); // overlong 3-byte
  assert.equal(at([0xed, 0xa0, 0x80]), 0); // surrogate U+D800
  assert.equal(at([0x61, 0xf4, 0x90, 0x80, 0x80]), 1); // above U+10FFFF
  assert.equal(at([0x61, 0xf5]), 1);
  assert.equal(at([0x61, 0x62, 0x63, 0xe2, 0x82]), 3); // truncated at the end
  // Streaming: a sequence cut by the end of the buffer is not (yet) an error.
  assert.equal(findUtf8Problem(Uint8Array.from([0x61, 0xe2, 0x82]), 0, 3, false), null);
  // Agrees with the WHATWG fatal decoder on random bytes.
  let seed = 1;
  for (let n = 0; n < 2000; n++) {
    const bytes = Uint8Array.from({ length: 6 }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % 4 === 0 ? 0x41 : (seed >> 8) % 256 || 1;
    });
    let valid = true;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      valid = false;
    }
    assert.equal(findUtf8Problem(bytes) === null, valid, `bytes ${[...bytes]}`);
  }
});

test('valid UTF-8 with a BOM and CRLF still reads as before', () => {
  assert.equal(readText(file('ok.txt', '\uFEFFgrüße\r\n€\r\n')), 'grüße\n€\n');
});
