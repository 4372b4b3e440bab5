import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor.js';
import {
  attentionFigureSvg,
  attentionHeatmapSvg,
  attentionMapsFromTensor,
  escapeXml,
  type AttentionMap,
} from '../../src/viz/index.js';
import { brightness, parseXml, type XmlElement } from './xml.js';

const src = ['<bos>', 'Die', 'Katze', 'saß', '&', '"ok"', "it's", '<eos>'];
const tgt = ['<bos>', '猫', 'cat', '<eos>'];

/** Deterministic weights with distinct values; rows sum to 1. */
function weights(T: number, S: number, seed: number): Float32Array {
  const w = new Float32Array(T * S);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    for (let s = 0; s < S; s++) {
      const v = 1 + ((t * 31 + s * 17 + seed * 7) % 23);
      w[t * S + s] = v;
      sum += v;
    }
    for (let s = 0; s < S; s++) w[t * S + s] /= sum;
  }
  return w;
}

function maps(T: number, S: number, prefix: string, n: number): AttentionMap[] {
  return Array.from({ length: n }, (_, h) => ({
    title: `${prefix} head ${h + 1}`,
    weights: weights(T, S, h),
    rows: T,
    cols: S,
  }));
}

const cells = (els: XmlElement[]) =>
  els.filter((e) => e.name === 'rect' && e.attrs.class === 'cell');

test('attentionHeatmapSvg: well-formed, one cell per weight, darker for larger weights', () => {
  const ms = maps(src.length, src.length, 'encoder layer 1', 3);
  const svg = attentionHeatmapSvg(ms, { rowTokens: src, colTokens: src, columns: 2, title: 'Enc' });
  const els = parseXml(svg);
  assert.equal(els[0].name, 'svg');
  const cs = cells(els);
  assert.equal(cs.length, 3 * src.length * src.length);
  // Cells are drawn map by map, row-major: pair each with its weight.
  const all = ms.flatMap((m) => [...m.weights]);
  const pairs = all.map((w, i) => ({ w, b: brightness(cs[i].attrs.fill) }));
  pairs.sort((a, b) => a.w - b.w);
  for (let i = 1; i < pairs.length; i++) {
    if (pairs[i].w > pairs[i - 1].w + 1e-6) {
      assert.ok(
        pairs[i].b <= pairs[i - 1].b,
        `weight ${pairs[i].w} is brighter (${pairs[i].b}) than ${pairs[i - 1].w} (${pairs[i - 1].b})`,
      );
    }
  }
  // The largest weight gets the darkest colour of the scale (it is the colour bar's top).
  const max = Math.max(...all);
  const darkest = cs[all.indexOf(max)].attrs.fill;
  assert.equal(darkest, '#08306b');
  // Titles of every panel.
  for (const m of ms) assert.ok(els.some((e) => e.name === 'text' && e.text === m.title));
});

test('attentionHeatmapSvg: tokens are XML-escaped and non-ASCII kept', () => {
  const svg = attentionHeatmapSvg(
    maps(src.length, tgt.length, 'cross', 1).map((m) => ({ ...m })),
    {
      rowTokens: src,
      colTokens: tgt,
    },
  );
  assert.ok(svg.includes('&lt;eos&gt;'));
  assert.ok(!svg.includes('<eos>'), 'raw <eos> in the SVG');
  assert.ok(svg.includes('&amp;'));
  assert.ok(svg.includes('&quot;ok&quot;'));
  assert.ok(svg.includes('it&#39;s'));
  assert.ok(svg.includes('saß'));
  assert.ok(svg.includes('猫'));
  assert.ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
  // Decoded labels are the tokens themselves.
  const texts = parseXml(svg)
    .filter((e) => e.name === 'text')
    .map((e) => e.text);
  for (const t of [...src, ...tgt]) assert.ok(texts.includes(t), `label ${t} missing`);
});

test('attentionHeatmapSvg: rejects maps that disagree with the tokens', () => {
  const ms = maps(3, 3, 'x', 1);
  assert.throws(
    () => attentionHeatmapSvg(ms, { rowTokens: ['a', 'b'], colTokens: ['a', 'b', 'c'] }),
    /map 'x head 1' is 3x3 but there are 2 row tokens/,
  );
  assert.throws(
    () =>
      attentionHeatmapSvg([{ title: 'short', weights: [0.5, 0.5], rows: 2, cols: 2 }], {
        rowTokens: ['a', 'b'],
        colTokens: ['a', 'b'],
      }),
    /map 'short' has 2 weights, expected rows\*cols = 4/,
  );
  assert.throws(
    () => attentionHeatmapSvg([], { rowTokens: [], colTokens: [] }),
    /no attention maps/,
  );
  assert.throws(
    () =>
      attentionHeatmapSvg(ms, {
        rowTokens: ['a', 'b', 'c'],
        colTokens: ['a', 'b', 'c'],
        cellSize: 0,
      }),
    /cellSize/,
  );
});

test('attentionHeatmapSvg: colour bar goes from 0 to the largest weight', () => {
  const m = { title: 'm', weights: [0, 0.3, 0.1, 0.2], rows: 2, cols: 2 };
  const svg = attentionHeatmapSvg([m], { rowTokens: ['a', 'b'], colTokens: ['c', 'd'] });
  const els = parseXml(svg);
  assert.equal(els.filter((e) => e.name === 'rect' && e.attrs.class === 'colorbar').length, 1);
  const fills = cells(els).map((e) => e.attrs.fill);
  assert.equal(fills[0], '#f7fbff'); // weight 0: bottom of the scale
  assert.equal(fills[1], '#08306b'); // weight 0.3 = max: top of the scale
  const labels = els.filter((e) => e.name === 'text').map((e) => e.text);
  assert.ok(labels.includes('0'));
  assert.ok(labels.includes('0.3'));
});

test('attentionFigureSvg: sections with their own axes and colour bars', () => {
  const svg = attentionFigureSvg(
    [
      {
        name: 'encoder self-attention',
        rowTokens: src,
        colTokens: src,
        maps: maps(8, 8, 'enc', 2),
      },
      {
        name: 'decoder self-attention',
        rowTokens: tgt,
        colTokens: tgt,
        maps: maps(4, 4, 'dec', 2),
      },
      { name: 'cross-attention', rowTokens: tgt, colTokens: src, maps: maps(4, 8, 'cross', 2) },
    ],
    { title: 'All attention' },
  );
  const els = parseXml(svg);
  const sections = els.filter((e) => e.name === 'g' && e.attrs.class === 'section');
  assert.deepEqual(
    sections.map((s) => s.attrs['data-name']),
    ['encoder self-attention', 'decoder self-attention', 'cross-attention'],
  );
  assert.equal(cells(els).length, 2 * 64 + 2 * 16 + 2 * 32);
  assert.equal(els.filter((e) => e.attrs.class === 'colorbar').length, 3);
  // Colour-bar gradients need distinct ids.
  const ids = els.filter((e) => e.name === 'linearGradient').map((e) => e.attrs.id);
  assert.equal(new Set(ids).size, 3);
  assert.throws(
    () =>
      attentionFigureSvg([
        { name: 'bad one', rowTokens: ['a'], colTokens: ['b'], maps: maps(2, 2, 'x', 1) },
      ]),
    /section 'bad one'.*map 'x head 1' is 2x2/,
  );
  assert.throws(() => attentionFigureSvg([]), /no sections/);
});

test('attentionMapsFromTensor: picks the batch entry and names the heads', () => {
  const B = 2;
  const H = 3;
  const T = 2;
  const S = 4;
  const data = new Float32Array(B * H * T * S).map((_, i) => i);
  const ms = attentionMapsFromTensor(new Tensor(data, [B, H, T, S]), {
    batch: 1,
    titlePrefix: 'decoder layer 2',
  });
  assert.equal(ms.length, H);
  assert.equal(ms[2].title, 'decoder layer 2 head 3');
  assert.equal(ms[2].rows, T);
  assert.equal(ms[2].cols, S);
  // (b=1, h=2) starts at ((1 * H) + 2) * T * S = 40.
  assert.deepEqual([...ms[2].weights], [40, 41, 42, 43, 44, 45, 46, 47]);
  const avg = attentionMapsFromTensor(new Tensor(data.slice(0, 16), [2, T, S]), {
    headsAveraged: true,
    batch: 1,
  });
  assert.equal(avg.length, 1);
  assert.deepEqual([...avg[0].weights], [8, 9, 10, 11, 12, 13, 14, 15]);
  assert.throws(
    () => attentionMapsFromTensor(new Tensor(data, [B, H, T, S]), { batch: 2 }),
    /batch 2 out of range/,
  );
  assert.throws(() => attentionMapsFromTensor(new Tensor(new Float32Array(2), [2])), /rank 1/);
});

test('escapeXml: markup characters escaped, forbidden control characters replaced', () => {
  assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  assert.equal(escapeXml('a\u0000b\u0007'), 'a\uFFFDb\uFFFD');
  assert.equal(escapeXml('Größe 中文 🙂'), 'Größe 中文 🙂');
  // A token made of a control character still gives a well-formed document.
  parseXml(attentionHeatmapSvg(maps(1, 1, 'c', 1), { rowTokens: ['\u0001'], colTokens: ['\t'] }));
});
