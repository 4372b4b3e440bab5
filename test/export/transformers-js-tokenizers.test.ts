/**
 * Our tokenizers as the export writes them (tokenizerFiles), read by transformers.js's
 * AutoTokenizer from disk: the same ids as ours for char, word and byte-level BPE, including
 * non-ASCII words (transformers.js's own Whitespace pre-tokenizer is ASCII-only; the export
 * writes the equivalent Split) and the classifier's <bos> template.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { tokenizerFiles, writeHfDir } from '../../src/export/hf-dir.js';
import { trainBPE, trainCharTokenizer, trainWordTokenizer } from '../../src/tokenizers/index.js';
import { tempDir } from './model-dirs.js';

const CORPUS = [
  'the cat sat on the mat.',
  'a dog ran to the park!',
  'hello world, héllo wörld',
  'naïve café',
];
const PROBES = ['the cat ran, héllo!', 'wörld café the  dog', 'zebra xyz'];

test('transformers.js reads the exported tokenizer.json with our ids (char, word, byte-level BPE)', async () => {
  const { env, AutoTokenizer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  const kinds = {
    char: trainCharTokenizer(CORPUS),
    word: trainWordTokenizer(CORPUS),
    bpe: trainBPE(CORPUS, { vocabSize: 280 }),
  };
  for (const [kind, tok] of Object.entries(kinds)) {
    for (const prependBos of [false, true]) {
      const out = join(tempDir('tts-export-tok'), kind);
      writeHfDir(out, tokenizerFiles(tok, { maxLength: 64, prependBos }));
      env.localModelPath = dirname(out);
      const hf = await AutoTokenizer.from_pretrained(basename(out));
      for (const text of PROBES) {
        const ours = prependBos ? [tok.bosId, ...tok.encode(text)] : tok.encode(text);
        assert.deepEqual(hf.encode(text), ours, `${kind} (bos ${prependBos}): '${text}'`);
        if (kind !== 'word')
          assert.equal(
            hf.decode(ours, { skip_special_tokens: true }),
            tok.decode(ours, { skipSpecial: true }),
          );
      }
    }
  }
});
