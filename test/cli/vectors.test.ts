/**
 * `transformer vectors train | neighbors | analogy` in-process: a planted corpus where
 * 'alpha' and 'beta' share their contexts gives vectors in which each is the other's nearest
 * neighbour, in the word2vec text and binary files and with GloVe; bad input is refused.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { WordVectors } from '../../src/vectors/word-vectors.js';
import { cli, tmp } from './in-process.js';

function planted(dir: string): string {
  const g = new Generator(3);
  const lines: string[] = [];
  for (let i = 0; i < 500; i++) {
    const c = Array.from({ length: 4 }, () => `c${g.randint(8)}`);
    lines.push(`${c[0]} ${c[1]} ${i % 2 ? 'alpha' : 'beta'} ${c[2]} ${c[3]}`);
    lines.push(Array.from({ length: 5 }, () => `o${g.randint(15)}`).join(' '));
  }
  const p = join(dir, 'corpus.txt');
  writeFileSync(p, lines.join('\n'));
  return p;
}

test('vectors train / neighbors / analogy: planted synonyms, text, binary and GloVe', async () => {
  const dir = tmp();
  const data = planted(dir);
  for (const [model, file] of [
    ['skipgram', 'v.txt'],
    ['cbow', 'v.bin'],
    ['glove', 'g.safetensors'],
  ]) {
    const out = join(dir, file);
    const extra = model === 'glove' ? ['--epochs', '30', '--window', '3'] : ['--sample', '0'];
    const r = await cli([
      'vectors',
      'train',
      '--data',
      data,
      '--out',
      out,
      '--model',
      model,
      '--dim',
      '16',
      '--min-count',
      '1',
      ...extra,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(WordVectors.load(out).dim, 16);
    const n = await cli(['vectors', 'neighbors', 'alpha', '--vectors', out, '--k', '1']);
    assert.equal(n.code, 0, n.err);
    assert.match(n.out, /^beta\t/, `${model}: ${n.out}`);
  }
  const a = await cli([
    'vectors',
    'analogy',
    'alpha',
    'beta',
    'c1',
    '--vectors',
    join(dir, 'v.txt'),
  ]);
  assert.equal(a.code, 0, a.err);
  assert.equal(a.out.trim().split('\n').length, 5);
  const bad = await cli(['vectors', 'neighbors', 'nosuchword', '--vectors', join(dir, 'v.txt')]);
  assert.match(bad.err, /'nosuchword' is not in the vocabulary/);
  const miss = await cli([
    'vectors',
    'train',
    '--data',
    join(dir, 'none.txt'),
    '--out',
    join(dir, 'x.txt'),
  ]);
  assert.match(miss.err, /--data: no such file/);
});
