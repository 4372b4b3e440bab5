// tokenizer.json validation (issue 11, item 14): ids range-checked and unique, Sequence nesting
// bounded, invalid UTF-8 refused; every malformed input is a TokenizerError naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  MAX_DEPTH,
  TokenizerError,
  loadTokenizer,
  tokenizerFromJSON,
  trainBPE,
  trainCharTokenizer,
} from '../../src/tokenizers/index.js';

type Json = Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), 'tts-tokjson-'));
const charJson = (): Json => JSON.parse(JSON.stringify(trainCharTokenizer(['abc']).toJSON()));
const withVocab = (extra: Record<string, unknown>): Json => {
  const j = charJson();
  const model = j.model as Json;
  return { ...j, model: { ...model, vocab: { ...(model.vocab as Json), ...extra } } };
};

function refuses(obj: unknown, re: RegExp): void {
  assert.throws(
    () => tokenizerFromJSON(obj),
    (e: Error) => e instanceof TokenizerError && re.test(e.message),
  );
}

test('vocabulary ids must be integers in [0, 2^21), each used once', () => {
  const range = /^tokenizer\.json: model\.vocab: id of 'x' must be an integer in \[0, 2097152\)/;
  for (const id of [-1, 2 ** 21, 2 ** 32, 2 ** 32 + 5, 1.5, '7', null])
    refuses(withVocab({ x: id }), range);
  refuses(withVocab({ x: 4 }), /model\.vocab: 'a' and 'x' have the same id 4|'x' and 'a'/);
  // 2^21 - 1 is the largest id the BPE pair keys address; it loads.
  assert.equal(tokenizerFromJSON(withVocab({ x: 2 ** 21 - 1 })).vocabSize, 2 ** 21);
});

test('added-token ids are checked too, and may only share an id with the same vocab token', () => {
  const j = charJson();
  const added = j.added_tokens as Json[];
  const add = (t: Json): Json => ({ ...j, added_tokens: [...added, t] });
  refuses(add({ id: -1, content: '<x>' }), /added_tokens\[4\]: id of '<x>' must be an integer/);
  refuses(add({ id: 2 ** 32, content: '<x>' }), /added_tokens\[4\]: id of '<x>'/);
  refuses(add({ id: 4, content: '<x>' }), /added_tokens\[4\]: id 4 of '<x>' is already the id of/);
  refuses(add({ id: 99, content: '<pad>' }), /added_tokens\[4\]: '<pad>' is listed twice/);
  assert.equal(tokenizerFromJSON(add({ id: 99, content: '<x>' })).tokenToId('<x>'), 99);
});

test(`Sequence nesting deeper than ${MAX_DEPTH} is refused, not a stack overflow`, () => {
  let pre: Json = { type: 'Whitespace' };
  let norm: Json = { type: 'Lowercase' };
  for (let i = 0; i < 3000; i++) {
    pre = { type: 'Sequence', pretokenizers: [pre] };
    norm = { type: 'Sequence', normalizers: [norm] };
  }
  refuses(
    { ...charJson(), pre_tokenizer: pre },
    /pre_tokenizer(\.pretokenizers\[0\])+: Sequence nested deeper than 64 levels/,
  );
  refuses(
    { ...charJson(), normalizer: norm },
    /normalizer(\.normalizers\[0\])+: Sequence nested deeper/,
  );
  // Depth 64 is fine and encodes like the flat spec.
  let ok: Json = { type: 'Whitespace' };
  for (let i = 0; i < MAX_DEPTH; i++) ok = { type: 'Sequence', pretokenizers: [ok] };
  const bpe = trainBPE(['ab ab abc'], { vocabSize: 262, minFrequency: 1 }).toJSON() as Json;
  const flat = tokenizerFromJSON({ ...bpe, pre_tokenizer: { type: 'Whitespace' } });
  assert.deepEqual(
    tokenizerFromJSON({ ...bpe, pre_tokenizer: ok }).encode('ab abc'),
    flat.encode('ab abc'),
  );
});

test('loadTokenizer refuses invalid UTF-8 and names the file in every error', async () => {
  const good = Buffer.from(JSON.stringify(withVocab({ é: 7 })));
  const at = good.indexOf(Buffer.from('é'));
  const bad = Buffer.from(good);
  bad[at] = 0xff; // 'é' = C3 A9 -> FF A9
  const path = join(dir, 'bad-utf8.json');
  writeFileSync(path, bad);
  assert.throws(
    () => loadTokenizer(path),
    (e: Error) => {
      assert.ok(e instanceof TokenizerError);
      assert.equal(
        e.message,
        `${path}: not UTF-8 text: invalid UTF-8 sequence (byte 0xFF) at byte offset ${at}`,
      );
      return true;
    },
  );
  const cases: [string, string | Buffer, RegExp][] = [
    ['syntax.json', '{"model": ', /syntax\.json: not valid JSON: /],
    ['ids.json', JSON.stringify(withVocab({ x: -1 })), /ids\.json: model\.vocab: id of 'x'/],
    [
      'merge.json',
      JSON.stringify({ ...charJson(), model: { ...(charJson().model as Json), merges: ['q r'] } }),
      /merge\.json: model: BPE: merge #0 'q r'/,
    ],
  ];
  for (const [name, content, re] of cases) {
    const p = join(dir, name);
    writeFileSync(p, content);
    assert.throws(
      () => loadTokenizer(p),
      (e: Error) => e instanceof TokenizerError && re.test(e.message) && e.message.startsWith(p),
    );
  }
  assert.throws(
    () => loadTokenizer(join(dir, 'missing.json')),
    (e: Error) =>
      e instanceof TokenizerError &&
      e.message.startsWith(join(dir, 'missing.json') + ': cannot read'),
  );
  // A valid file still loads.
  writeFileSync(join(dir, 'good.json'), good);
  assert.equal((await loadTokenizer(join(dir, 'good.json'))).tokenToId('é'), 7);
});
