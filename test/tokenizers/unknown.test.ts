// Characters or words outside the vocabulary are reported, not silently <unk> (issue 11, item 11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeChecked,
  specialTokenIds,
  tokenizerFromJSON,
  trainBPE,
  trainCharTokenizer,
  trainWordTokenizer,
} from '../../src/tokenizers/index.js';

test('encodeChecked names the characters a char tokenizer does not know, with counts', () => {
  const tok = trainCharTokenizer(['hello world']);
  const r = encodeChecked(tok, 'héllo wörld é', '--prompt');
  assert.deepEqual(r.ids, tok.encode('héllo wörld é'), 'the ids are those of encode');
  assert.deepEqual(
    [...r.unknown],
    [
      ['é', 2],
      ['ö', 1],
    ],
  );
  assert.equal(
    r.warning,
    '--prompt: 3 characters are not in the vocabulary and became <unk>: "é" (2), "ö"',
  );
  assert.equal(encodeChecked(tok, 'hello', '--prompt').warning, null);
  // The BPE cache does not hide an unknown character the second time a word is seen.
  const bpeNoBytes = tokenizerFromJSON({
    ...(tok.toJSON() as object),
    pre_tokenizer: { type: 'Whitespace' },
    model: {
      ...(tok.toJSON() as { model: object }).model,
      merges: ['l l'],
      vocab: { ...(tok.toJSON() as { model: { vocab: object } }).model.vocab, ll: 99 },
    },
  });
  const twice = encodeChecked(bpeNoBytes, 'hellé hellé', 'x');
  assert.deepEqual([...twice.unknown], [['é', 2]]);
});

test('encodeChecked reports words for a word tokenizer; byte-level BPE has no unknowns', () => {
  const word = trainWordTokenizer(['the cat sat']);
  assert.equal(
    encodeChecked(word, 'the dog sat', '--text').warning,
    '--text: 1 word is not in the vocabulary and became <unk>: "dog"',
  );
  const bpe = trainBPE(['the cat sat'], { vocabSize: 262 });
  assert.equal(encodeChecked(bpe, 'ünïcödé 你好', '--text').warning, null);
});

test('specialTokenIds lists pad, bos, eos, unk and the special added tokens', () => {
  assert.deepEqual(specialTokenIds(trainCharTokenizer(['ab'])), [0, 1, 2, 3]);
});
