// Parity with Hugging Face `tokenizers` (the Rust library): the committed fixtures were made by
// test/fixtures/tokenizers/make_fixtures.ts with the npm package `tokenizers` 0.23.2. The live
// tests run HF on our files directly and skip when that package is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  trainBPE,
  trainCharTokenizer,
  trainWordTokenizer,
  tokenizerFromJSON,
  loadTokenizer,
  saveTokenizer,
  type Tokenizer,
} from '../../src/tokenizers/index.js';
import { loadHF, SENTENCES, corpus } from './hf.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tokenizers');
interface Case {
  text: string;
  ids: number[];
  decoded: string;
  decodedSkipSpecial: string;
}
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as Record<
  string,
  Case[]
>;

function checkCases(tok: Tokenizer, cases: Case[]): void {
  assert.deepEqual(
    cases.map((c) => c.text),
    [...SENTENCES],
    'fixture sentences changed: rerun make_fixtures.ts',
  );
  for (const c of cases) {
    assert.deepEqual(tok.encode(c.text), c.ids, `encode ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(c.ids), c.decoded, `decode ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(c.ids, { skipSpecial: true }), c.decodedSkipSpecial);
  }
}

for (const file of ['hf_bpe_bytelevel.json', 'gpt2_style.json', 'hf_wordlevel.json']) {
  test(`HF-written ${file}: our ids and decodes equal HF's`, async () => {
    const tok = await loadTokenizer(join(fixtures, file));
    checkCases(tok, expected[file]);
  });
}

test('HF-written GPT-2-style file: kinds, roles and round trip', async () => {
  const tok = await loadTokenizer(join(fixtures, 'gpt2_style.json'));
  assert.equal(tok.kind, 'bpe');
  assert.equal(tok.tokenToId('<|endoftext|>'), tok.vocabSize - 1);
  assert.equal(tok.bosId, tok.vocabSize - 1); // <|endoftext|> plays bos and eos, as in GPT-2
  assert.equal(tok.eosId, tok.vocabSize - 1);
  assert.equal(tok.unkId, -1);
  for (const s of SENTENCES) assert.equal(tok.decode(tok.encode(s)), s);
  const wl = await loadTokenizer(join(fixtures, 'hf_wordlevel.json'));
  assert.equal(wl.kind, 'word');
  assert.equal(wl.unkId, 0);
  assert.equal(wl.padId, 1);
  assert.equal(wl.bosId, -1);
  assert.throws(() => wl.encode('x', { addBos: true }), /addBos needs a <bos> token/);
});

const trainOurs = (): Record<string, Tokenizer> => ({
  char: trainCharTokenizer(corpus()),
  word: trainWordTokenizer(corpus(), { vocabSize: 200, lowercase: true }),
  bpe: trainBPE(corpus(), { vocabSize: 400 }),
});

test('our trained tokenizers give the ids HF gave for them (fixture)', () => {
  for (const [name, tok] of Object.entries(trainOurs())) checkCases(tok, expected[`ours:${name}`]);
});

test('live: HF reads our saved tokenizer.json files and agrees on ids and decode', async (t) => {
  const { hf, reason } = await loadHF();
  if (hf === null) {
    t.skip(reason);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tok-hf-'));
  const extra = [
    'Ä'.repeat(300) + ' ' + '你好'.repeat(50),
    ' '.repeat(40) + 'x' + '\n'.repeat(5),
    '<bos><bos>x<eos>',
    'a\u{1F600}b\u0301c',
    'mixed CASE Über ÜBER über',
  ];
  for (const [name, tok] of Object.entries(trainOurs())) {
    const path = join(dir, `${name}.json`);
    await saveTokenizer(tok, path);
    const theirs = hf.Tokenizer.fromFile(path);
    for (const text of [...SENTENCES, ...extra, ...corpus().slice(0, 6)]) {
      const ids = (await theirs.encode(text, null, { addSpecialTokens: true })).getIds();
      assert.deepEqual(tok.encode(text), ids, `${name}: encode ${JSON.stringify(text)}`);
      const withSpecials = [tok.bosId, ...ids, tok.eosId];
      assert.equal(tok.decode(withSpecials), await theirs.decode(withSpecials, false), name);
      assert.equal(
        tok.decode(withSpecials, { skipSpecial: true }),
        await theirs.decode(withSpecials, true),
        name,
      );
    }
  }
});

test('live: HF reads our BPE trained on text with many merges', async (t) => {
  const { hf, reason } = await loadHF();
  if (hf === null) {
    t.skip(reason);
    return;
  }
  const texts = corpus().map((s, i) => `${s} ${i} ${s.split('').reverse().join('')}`);
  const tok = trainBPE(texts, { vocabSize: 1000, minFrequency: 1 });
  const theirs = hf.Tokenizer.fromString(JSON.stringify(tok.toJSON()));
  for (const text of texts.slice(0, 30)) {
    const ids = (await theirs.encode(text, null, { addSpecialTokens: true })).getIds();
    assert.deepEqual(tok.encode(text), ids);
  }
  // and our reader gives back the same tokenizer from HF's own serialization of it
  const dir = mkdtempSync(join(tmpdir(), 'tok-hf-'));
  theirs.save(join(dir, 'hf.json'));
  const again = tokenizerFromJSON(JSON.parse(readFileSync(join(dir, 'hf.json'), 'utf8')));
  for (const text of texts.slice(0, 30)) assert.deepEqual(again.encode(text), tok.encode(text));
});
