import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  trainBPE,
  trainCharTokenizer,
  trainWordTokenizer,
  tokenizerFromJSON,
  loadTokenizer,
  saveTokenizer,
  toByteLevel,
  BYTE_TO_CHAR,
  type Tokenizer,
} from '../../src/tokenizers/index.js';
import { Generator } from '../../src/random.js';
import { preTokenize } from '../../src/tokenizers/pipeline.js';
import { corpus } from './hf.js';

const INTL = 'Grüße: ÄÖÜäöüß! 你好世界 👍🏽🦄 👨‍👩‍👧\n\tend  ';

function jsonOf(tok: Tokenizer): Record<string, unknown> {
  return tok.toJSON() as Record<string, unknown>;
}

test('specials are ids 0..3 and HF added_tokens with special: true', () => {
  for (const tok of [
    trainCharTokenizer(corpus()),
    trainWordTokenizer(corpus()),
    trainBPE(corpus(), { vocabSize: 300 }),
  ]) {
    assert.deepEqual([tok.padId, tok.bosId, tok.eosId, tok.unkId], [0, 1, 2, 3]);
    assert.deepEqual(
      ['<pad>', '<bos>', '<eos>', '<unk>'].map((s) => tok.tokenToId(s)),
      [0, 1, 2, 3],
    );
    const added = jsonOf(tok).added_tokens as { id: number; content: string; special: boolean }[];
    assert.deepEqual(
      added.map((a) => [a.id, a.content, a.special]),
      [
        [0, '<pad>', true],
        [1, '<bos>', true],
        [2, '<eos>', true],
        [3, '<unk>', true],
      ],
    );
    const ids = tok.encode('the fox', { addBos: true, addEos: true });
    assert.equal(ids[0], 1);
    assert.equal(ids.at(-1), 2);
    // special strings in the text are matched as special tokens (as HF does)
    assert.deepEqual(tok.encode('<eos>'), [2]);
    assert.equal(tok.decode([1, ...tok.encode('fox'), 2], { skipSpecial: true }).trim(), 'fox');
  }
});

test('char: exact round trip incl. spaces, newlines, non-ASCII; unknown -> <unk>', () => {
  const tok = trainCharTokenizer([INTL, 'abc']);
  assert.equal(tok.kind, 'char');
  const ids = tok.encode(INTL);
  assert.equal(ids.length, [...INTL].length); // one id per code point
  assert.equal(tok.decode(ids), INTL);
  assert.equal(tok.decode(tok.encode(INTL, { addBos: true })), '<bos>' + INTL);
  assert.deepEqual(tok.encode('aXb'), [tok.tokenToId('a'), 3, tok.tokenToId('b')]);
  assert.equal(tok.decode(tok.encode('aXb')), 'a<unk>b');
  assert.equal(tok.decode(tok.encode('aXb'), { skipSpecial: true }), 'ab');
  // frequency order, ties by code point: 'b' (2) before 'a' (1) and 'c' (1), 'a' before 'c'
  const t2 = trainCharTokenizer(['cab', 'b']);
  assert.deepEqual(
    [4, 5, 6].map((i) => t2.idToToken(i)),
    ['b', 'a', 'c'],
  );
  const t3 = trainCharTokenizer(['aaab', 'cc'], { vocabSize: 6 });
  assert.equal(t3.vocabSize, 6);
  assert.deepEqual(t3.encode('abc'), [4, 3, 5]);
  assert.equal(trainCharTokenizer(['aab'], { minFrequency: 2 }).tokenToId('b'), undefined);
});

test('word: splits words and punctuation; decode joins with spaces (not exact)', () => {
  const tok = trainWordTokenizer(['Hello, world! Hello Grüße 你好世界.'], { lowercase: true });
  assert.equal(tok.kind, 'word');
  const ids = tok.encode('HELLO, grüße!! unbekannt 你好世界');
  assert.deepEqual(
    ids.map((i) => tok.idToToken(i)),
    ['hello', ',', 'grüße', '<unk>', '<unk>', '你好世界'], // '!!' is one unseen token
  );
  assert.equal(tok.decode(ids), 'hello , grüße <unk> <unk> 你好世界');
  assert.equal(tok.decode(ids, { skipSpecial: true }), 'hello , grüße 你好世界');
  // most frequent first; ties in code point order ('!' < ',' < '.' < 'grüße' < 'world' < '你好世界')
  assert.deepEqual(
    [4, 5, 6, 7, 8, 9, 10].map((i) => tok.idToToken(i)),
    ['hello', '!', ',', '.', 'grüße', 'world', '你好世界'],
  );
  const small = trainWordTokenizer(['a a a b b c'], { vocabSize: 6, minFrequency: 1 });
  assert.deepEqual(small.encode('a b c'), [4, 5, 3]);
  assert.equal(trainWordTokenizer(['a a b'], { minFrequency: 2 }).tokenToId('b'), undefined);
  const cased = trainWordTokenizer(['a A']); // case kept without lowercase; tie: 'A' < 'a'
  assert.deepEqual([cased.tokenToId('A'), cased.tokenToId('a')], [4, 5]);
});

test('bpe: any text round-trips exactly without <unk>', () => {
  const tok = trainBPE(corpus(), { vocabSize: 400 });
  assert.equal(tok.kind, 'bpe');
  const texts = [INTL, '', ' ', 'ΟΔΟΣ İ ǅ \u0000\u0085\ufeff\u{10FFFF}', 'never seen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃'];
  for (const s of texts) {
    const ids = tok.encode(s);
    assert.ok(!ids.includes(tok.unkId), `no <unk> for ${JSON.stringify(s)}`);
    assert.equal(tok.decode(ids), s);
  }
  // the 256 bytes are ids 4..259, in byte order
  assert.deepEqual(tok.encode('A'), [4 + 0x41]);
  assert.equal(tok.idToToken(4 + 0x20), 'Ġ');
  assert.equal(toByteLevel('ä'), 'Ã¤');
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
});

test('bpe: the most frequent pair is learned first and becomes one token', () => {
  const tok = trainBPE(['xyxyxy zq', 'xy xy'], { vocabSize: 262 });
  const merges = (jsonOf(tok).model as { merges: string[] }).merges;
  assert.deepEqual(merges, ['x y', 'xy xy']);
  assert.deepEqual(tok.encode('xy'), [260]);
  assert.deepEqual(tok.encode('xyxy'), [261]);
  assert.deepEqual(tok.encode('xyxyxy'), [261, 260]);
  // ties: equal counts go to the pair with smaller ids ('a b' before 'c d')
  const t2 = trainBPE(['cd', 'ab'], { vocabSize: 261, minFrequency: 1 });
  assert.deepEqual((jsonOf(t2).model as { merges: string[] }).merges, ['a b']);
  // minFrequency stops training early
  assert.equal(trainBPE(['ab cd'], { vocabSize: 300 }).vocabSize, 260);
});

/** Reference BPE learner: recount all pairs every step (slow, obviously right). */
function naiveMerges(
  tok: Tokenizer,
  words: (text: string) => string[],
  texts: string[],
  nMerges: number,
  minFreq: number,
): string[] {
  const counts0 = new Map<string, number>();
  for (const t of texts) for (const w of words(t)) counts0.set(w, (counts0.get(w) ?? 0) + 1);
  const seqs = [...counts0].map(([w, c]) => ({ s: [...w].map((ch) => tok.tokenToId(ch)!), c }));
  const names = new Map<number, string>();
  const name = (id: number): string => names.get(id) ?? tok.idToToken(id)!;
  const out: string[] = [];
  let next = 260;
  for (let m = 0; m < nMerges; m++) {
    const counts = new Map<string, number>();
    for (const { s, c } of seqs) {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = `${s[i]},${s[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + c);
      }
    }
    let best: [number, number, number] | null = null;
    for (const [k, c] of counts) {
      const [a, b] = k.split(',').map(Number);
      const better =
        !best || c > best[0] || (c === best[0] && (a < best[1] || (a === best[1] && b < best[2])));
      if (better) best = [c, a, b];
    }
    if (!best || best[0] < minFreq) break;
    const [, a, b] = best;
    const merged = name(a) + name(b);
    let id = [...names].find(([, n]) => n === merged)?.[0];
    if (id === undefined) names.set((id = next++), merged);
    out.push(`${name(a)} ${name(b)}`);
    for (const q of seqs) {
      const r: number[] = [];
      for (let i = 0; i < q.s.length; i++) {
        if (i + 1 < q.s.length && q.s[i] === a && q.s[i + 1] === b) {
          r.push(id);
          i++;
        } else r.push(q.s[i]);
      }
      q.s = r;
    }
  }
  return out;
}

test('bpe: incremental trainer learns exactly the merges of a naive recounting trainer', () => {
  const g = new Generator(3);
  const alphabet = ['a', 'b', 'c', 'ä', '你', ' ', 'ab', 'ba '];
  const texts = Array.from({ length: 40 }, () =>
    Array.from({ length: 30 }, () => alphabet[g.randint(alphabet.length)]).join(''),
  );
  const tok = trainBPE(texts, { vocabSize: 260 + 120, minFrequency: 2 });
  const words = (t: string): string[] => preTokenize(jsonOf(tok).pre_tokenizer as never, t);
  const ours = (jsonOf(tok).model as { merges: string[] }).merges;
  assert.ok(ours.length > 50);
  assert.deepEqual(ours, naiveMerges(tok, words, texts, 120, 2));
});

test('bpe: equal to the naive trainer on a corpus of thousands of distinct pairs', () => {
  // Zipf-like word frequencies and thousands of distinct pairs, so the trainer's pair table,
  // word lists and heap grow while merging, and a count update lost there reorders merges.
  const g = new Generator(2);
  const alphabet = [...'abcdefghijklmnopqrstuvwxyzäöüß你好世界'];
  const lexicon = Array.from({ length: 300 }, () =>
    Array.from({ length: 2 + g.randint(10) }, () => alphabet[g.randint(alphabet.length)]).join(''),
  );
  const texts = Array.from({ length: 300 }, () =>
    Array.from({ length: 10 }, () => lexicon[Math.floor(lexicon.length * g.uniform() ** 2)]).join(
      ' ',
    ),
  );
  const tok = trainBPE(texts, { vocabSize: 260 + 1000, minFrequency: 1 });
  const words = (t: string): string[] => preTokenize(jsonOf(tok).pre_tokenizer as never, t);
  const ours = (jsonOf(tok).model as { merges: string[] }).merges;
  assert.ok(ours.length > 900);
  assert.deepEqual(ours, naiveMerges(tok, words, texts, 1000, 1));
});

test('training is deterministic and encode uses merges consistently', () => {
  const a = trainBPE(corpus(), { vocabSize: 500 });
  const b = trainBPE(corpus(), { vocabSize: 500 });
  assert.deepEqual(a.toJSON(), b.toJSON());
  assert.deepEqual(trainWordTokenizer(corpus()).toJSON(), trainWordTokenizer(corpus()).toJSON());
  assert.deepEqual(trainCharTokenizer(corpus()).toJSON(), trainCharTokenizer(corpus()).toJSON());
  // a generator is a fine corpus, consumed once
  function* gen(): Iterable<string> {
    yield* corpus();
  }
  assert.deepEqual(trainBPE(gen(), { vocabSize: 500 }).toJSON(), a.toJSON());
  // encoding the same word twice (cache) gives the same ids
  const s = 'the quick brown fox ' + INTL;
  assert.deepEqual(a.encode(s), a.encode(s));
});

test('save/load: same JSON, same ids; atomic write leaves no temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  for (const tok of [
    trainCharTokenizer(corpus()),
    trainWordTokenizer(corpus(), { lowercase: true, vocabSize: 40 }),
    trainBPE(corpus(), { vocabSize: 400 }),
  ]) {
    const path = join(dir, `${tok.kind}.json`);
    await saveTokenizer(tok, path);
    const back = await loadTokenizer(path);
    assert.deepEqual(back.toJSON(), tok.toJSON());
    assert.equal(back.kind, tok.kind);
    assert.equal(back.vocabSize, tok.vocabSize);
    for (const s of [...corpus().slice(0, 6), INTL])
      assert.deepEqual(back.encode(s), tok.encode(s));
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    if (tok.kind === 'bpe') assert.equal(typeof raw.model.merges[0], 'string'); // "a b" form
  }
  assert.deepEqual(readdirSync(dir).sort(), ['bpe.json', 'char.json', 'word.json']);
});

test('loading accepts [a, b] merges and rejects unsupported parts by name', () => {
  const base = jsonOf(trainBPE(['aa bb aa'], { vocabSize: 262, minFrequency: 1 }));
  const model = base.model as { merges: string[] };
  const pairs = { ...base, model: { ...model, merges: model.merges.map((m) => m.split(' ')) } };
  assert.deepEqual(
    tokenizerFromJSON(pairs).encode('aa bb'),
    tokenizerFromJSON(base).encode('aa bb'),
  );
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...base, model: { ...model, type: 'Unigram' } }, /model: type 'Unigram' is not supported/],
    [{ ...base, model: { ...model, dropout: 0.1 } }, /model\.dropout/],
    [{ ...base, model: { ...model, byte_fallback: true } }, /model\.byte_fallback/],
    [
      { ...base, model: { ...model, continuing_subword_prefix: '##' } },
      /continuing_subword_prefix/,
    ],
    [{ ...base, normalizer: { type: 'Precompiled' } }, /normalizer: type 'Precompiled'/],
    [{ ...base, pre_tokenizer: { type: 'Metaspace' } }, /pre_tokenizer: type 'Metaspace'/],
    [{ ...base, decoder: { type: 'WordPiece' } }, /decoder: type 'WordPiece'/],
    [{ ...base, post_processor: { type: 'TemplateProcessing' } }, /post_processor: type 'Templ/],
    [{ ...base, padding: { strategy: 'BatchLongest' } }, /padding: must be null/],
    [{ ...base, model: { ...model, merges: ['a b c'] } }, /model\.merges\[0\]/],
    [{ ...base, model: { ...model, merges: ['x y'] } }, /merge #0 'x y'/],
    [{ ...base, model: { ...model, unk_token: '<nope>' } }, /unk_token '<nope>'/],
    [{ ...base, added_tokens: [{ id: 9, content: 'x', single_word: true }] }, /single_word/],
  ];
  for (const [obj, re] of bad) assert.throws(() => tokenizerFromJSON(obj), re);
});

test('options are validated by name', () => {
  assert.throws(() => trainBPE(['a'], { vocabSize: 100 }), /'vocabSize' must be an integer >= 260/);
  assert.throws(() => trainBPE(['a'], {} as never), /'vocabSize' is required/);
  assert.throws(
    () => trainWordTokenizer(['a'], { vocabsize: 5 } as never),
    /unknown option 'vocabsize'/,
  );
  assert.throws(() => trainCharTokenizer(['a'], { minFrequency: 0 }), /'minFrequency'/);
  assert.throws(() => trainCharTokenizer('abc' as never), /not a string/);
  assert.throws(() => trainCharTokenizer(['a']).decode([999]), /id 999/);
});

test('bpe: a ~1 MB corpus trains to 8000 merges', () => {
  const g = new Generator(7);
  const syl = ['ka', 'to', 'ri', 'mu', 'ne', 'sa', 'lo', 'pi', 'de', 'gu', 'ön', 'ß', '你', 'sch'];
  const words = Array.from({ length: 200_000 }, () =>
    Array.from({ length: 1 + g.randint(4) }, () => syl[g.randint(syl.length)]).join(''),
  );
  const lines: string[] = [];
  for (let size = 0; size < 1_000_000;) {
    const l = Array.from(
      { length: 12 },
      () => words[Math.floor(words.length * g.uniform() ** 1.5)],
    );
    lines.push(l.join(' ') + '. ');
    size += lines.at(-1)!.length;
  }
  // Speed belongs in benchmarks; here only that a 1 MB corpus reaches 8000 merges.
  const tok = trainBPE(lines, { vocabSize: 260 + 8000 });
  assert.equal(tok.vocabSize, 8260);
});
