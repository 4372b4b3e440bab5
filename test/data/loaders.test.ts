// File loaders: file:line errors, BOM/CRLF, empty lines, missing files; resolveDataset.
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
  resolveDataset,
} from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tts-data-'));
function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

test('readParallelTsv reads pairs, skips empty lines, tolerates CRLF and a BOM', () => {
  const p = file('ok.tsv', '\uFEFFHallo Welt.\tHello world.\r\n\r\n  \nGuten Tag\t Good day \r\n');
  assert.deepEqual(readParallelTsv(p), [
    { source: 'Hallo Welt.', target: 'Hello world.' },
    { source: 'Guten Tag', target: 'Good day' },
  ]);
});

test('readParallelTsv names the file and 1-based line of a malformed line', () => {
  const p = file('data.tsv', 'a\tb\n\nc\td\nonly one field\ne\tf\n');
  assert.throws(
    () => readParallelTsv(p),
    (e: Error) =>
      e instanceof DataError &&
      e.message === `${p}:4: expected 'source<TAB>target', found 1 field`,
  );
  const three = file('three.tsv', 'a\tb\tc\n');
  assert.throws(() => readParallelTsv(three), {
    message: `${three}:1: expected 'source<TAB>target', found 3 fields`,
  });
  const empty = file('empty-field.tsv', 'a\tb\r\nx\t \r\n');
  assert.throws(() => readParallelTsv(empty), {
    message: `${empty}:2: expected 'source<TAB>target', but target is empty`,
  });
});

test('readClassificationTsv: label is the last field, text may not contain a tab', () => {
  const p = file('cls.tsv', 'great film\tpos\nawful\tneg\n');
  assert.deepEqual(readClassificationTsv(p), [
    { text: 'great film', label: 'pos' },
    { text: 'awful', label: 'neg' },
  ]);
  const bad = file('cls-bad.tsv', 'great film\tpos\ntab\tinside\tneg\n');
  assert.throws(() => readClassificationTsv(bad), {
    name: 'DataError',
    message: `${bad}:2: expected 'text<TAB>label', found 3 fields`,
  });
});

test('a missing file, an empty file and a file without data name the path', () => {
  const missing = join(dir, 'nope.tsv');
  assert.throws(() => readParallelTsv(missing), { message: `${missing}: no such file` });
  assert.throws(() => readText(missing), { message: `${missing}: no such file` });
  const blank = file('blank.tsv', '\n\r\n');
  assert.throws(() => readClassificationTsv(blank), /blank\.tsv: no examples/);
  assert.throws(() => readText(file('zero.txt', '')), /zero\.txt: file is empty/);
});

test('readText strips the BOM and CRLF', () => {
  assert.equal(readText(file('t.txt', '\uFEFFone\r\ntwo\r\n')), 'one\ntwo\n');
});

test('resolveDataset reads files by task and built-ins by name', () => {
  const p = file('pairs.tsv', 'a\tb\n');
  assert.deepEqual(resolveDataset(p, 'translate'), [{ source: 'a', target: 'b' }]);
  assert.deepEqual(resolveDataset(p, 'classify'), [{ text: 'a', label: 'b' }]);
  assert.equal(resolveDataset(p, 'lm'), 'a\tb\n');
  const shakespeare = resolveDataset('tinyshakespeare', 'lm');
  assert.equal(shakespeare.length, 1115394);
  assert.ok(shakespeare.startsWith('First Citizen:\nBefore we proceed any further'));
  assert.throws(
    () => resolveDataset('tinyshakespeare', 'translate'),
    /'tinyshakespeare' is for the lm task, not translate \(built-in for translate: freedict-de-en/,
  );
  assert.throws(
    () => resolveDataset('no-such-set', 'classify'),
    /no-such-set: no such file, and not a built-in data set \(built-in for classify: spamassassin\)/,
  );
});
