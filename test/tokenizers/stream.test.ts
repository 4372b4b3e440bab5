// Tokenizing in chunks gives the ids of tokenizing the whole text; long words are capped
// (issue 11, item 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textChunks } from '../../src/data/index.js';
import {
  TokenBuffer,
  chunkSafe,
  encodeChunks,
  tokenizerFromJSON,
  tokenizeCorpus,
  trainBPE,
  trainCharTokenizer,
  trainWordTokenizer,
} from '../../src/tokenizers/index.js';
import { MAX_WORD, splitLongWord } from '../../src/tokenizers/models.js';
import { Generator } from '../../src/random.js';

/** ~300k characters that stress the cut rules: whitespace runs, contractions, specials. */
function stressText(): string {
  const g = new Generator(3);
  const pieces = [
    'the',
    'cat',
    'Hello',
    "it's",
    "we're",
    '42',
    '3.14',
    '!!',
    '?',
    ',',
    '<pad>',
    '<eos>',
    'ünï',
    '你好',
    '😀x',
    "'s",
    ' ',
    '  ',
    '\n',
    '\n\n',
    '\n \n',
    '\t',
    ' \n',
    '\u00a0',
    '\u3000',
  ];
  let text = '';
  while (text.length < 300_000)
    text += pieces[g.randint(pieces.length)] + (g.uniform() < 0.6 ? ' ' : '');
  return text;
}

test('encodeChunks and training on chunks equal the whole-text results, for every kind', () => {
  const text = stressText();
  const chunks = textChunks(text);
  assert.ok([...chunks].length > 10);
  const trained = [
    [trainCharTokenizer([text]), trainCharTokenizer(chunks)],
    [trainWordTokenizer([text]), trainWordTokenizer(chunks)],
    [trainBPE([text], { vocabSize: 400 }), trainBPE(chunks, { vocabSize: 400 })],
  ] as const;
  for (const [whole, chunked] of trained) {
    assert.deepEqual(chunked.toJSON(), whole.toJSON(), whole.kind);
    const ids = encodeChunks(whole, chunks);
    assert.ok(ids instanceof Int32Array);
    assert.deepEqual(Array.from(ids), whole.encode(text), whole.kind);
  }
  const { tokenizer, ids } = tokenizeCorpus(chunks, { tokenizer: 'bpe', vocabSize: 400 });
  assert.deepEqual(Array.from(ids), tokenizer.encode(text));
});

test('a tokenizer whose ids could change at a cut (prefix space) is encoded whole', () => {
  const text = stressText().slice(0, 100_000);
  const ours = trainBPE([text], { vocabSize: 300 });
  assert.ok(chunkSafe(ours) && chunkSafe(trainCharTokenizer([text])));
  const json = ours.toJSON() as { pre_tokenizer: object };
  const prefixed = tokenizerFromJSON({
    ...json,
    pre_tokenizer: { ...json.pre_tokenizer, add_prefix_space: true },
  });
  assert.equal(chunkSafe(prefixed), false);
  assert.deepEqual(Array.from(encodeChunks(prefixed, textChunks(text))), prefixed.encode(text));
});

test('TokenBuffer grows in place and returns exactly the ids pushed', () => {
  const b = new TokenBuffer();
  const want: number[] = [];
  for (let i = 0; i < 300; i++) {
    const ids = Array.from({ length: i * 7 }, (_, k) => (i * 31 + k) % 1000);
    b.push(ids, 'test');
    want.push(...ids);
  }
  assert.deepEqual(Array.from(b.ids()), want);
});

test(`a BPE word longer than MAX_WORD (${MAX_WORD}) is encoded and learnt as its pieces`, () => {
  const g = new Generator(9);
  const letters = 'abcdefgh';
  let word = '';
  while (word.length < 5 * MAX_WORD + 17) word += letters[g.randint(8)];
  const pieces = splitLongWord(word);
  assert.deepEqual(
    pieces.map((p) => p.length),
    [...Array(5).fill(MAX_WORD), 17],
  );
  const tok = trainBPE([word, word.slice(3)], { vocabSize: 600 });
  assert.deepEqual(
    tok.encode(word),
    pieces.flatMap((p) => tok.encode(p)),
    'no token spans a piece boundary',
  );
  // Training counts the pieces as words: the same tokenizer as training on the pieces.
  assert.deepEqual(
    trainBPE([word], { vocabSize: 600 }).toJSON(),
    trainBPE(pieces, { vocabSize: 600 }).toJSON(),
  );
  // A surrogate pair is never split.
  const astral = 'a'.repeat(MAX_WORD - 1) + '😀' + 'b';
  assert.deepEqual(splitLongWord(astral), ['a'.repeat(MAX_WORD - 1), '😀b']);
});
