import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor.js';
import { MASK_COLORS, maskSvg, positionalEncodingSvg } from '../../src/viz/index.js';
import { brightness, parseXml } from './xml.js';

function cellFills(svg: string): string[] {
  return parseXml(svg)
    .filter((e) => e.name === 'rect' && e.attrs.class === 'cell')
    .map((e) => e.attrs.fill);
}

/** Sinusoidal table, Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(...). */
function sinusoid(L: number, C: number): Float32Array {
  const t = new Float32Array(L * C);
  for (let p = 0; p < L; p++) {
    for (let i = 0; i < C; i += 2) {
      const a = p / Math.pow(10000, i / C);
      t[p * C + i] = Math.sin(a);
      if (i + 1 < C) t[p * C + i + 1] = Math.cos(a);
    }
  }
  return t;
}

test('positionalEncodingSvg: one cell per entry on a diverging scale', () => {
  const L = 12;
  const C = 16;
  const table = sinusoid(L, C);
  const fills = cellFills(positionalEncodingSvg(table, L, C));
  assert.equal(fills.length, L * C);
  // Position 0: sin 0 = 0 is the white middle of the scale, cos 0 = 1 is the red end.
  assert.equal(fills[0], '#f7f7f7');
  assert.equal(fills[1], '#b2182b');
  // The most negative entry is blue (more blue than red).
  let iMin = 0;
  for (let i = 0; i < table.length; i++) if (table[i] < table[iMin]) iMin = i;
  const f = fills[iMin];
  assert.ok(
    parseInt(f.slice(5, 7), 16) > parseInt(f.slice(1, 3), 16),
    `fill ${f} for ${table[iMin]}`,
  );
  // A Tensor works too, and a wrong size is named.
  assert.equal(cellFills(positionalEncodingSvg(new Tensor(table, [L, C]), L, C)).length, L * C);
  assert.throws(() => positionalEncodingSvg(table, L, C + 1), /expected maxLen\*dModel = 204/);
  assert.throws(() => positionalEncodingSvg(table, 0, C), /maxLen must be a positive integer/);
});

test('maskSvg: causal bool mask shows T(T-1)/2 masked cells', () => {
  const T = 6;
  const m = new Uint8Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = 1;
  const fills = cellFills(
    maskSvg(m, T, T, {
      rowTokens: ['<s>', 'a', 'b', 'c', 'd', 'e'],
      colTokens: ['<s>', 'a', 'b', 'c', 'd', 'e'],
    }),
  );
  assert.equal(fills.filter((f) => f === MASK_COLORS.masked).length, (T * (T - 1)) / 2);
  assert.equal(fills[1], MASK_COLORS.masked); // query 0 may not see key 1
  assert.equal(fills[T], MASK_COLORS.allowed); // query 1 sees key 0
  assert.ok(brightness(MASK_COLORS.masked) < brightness(MASK_COLORS.allowed));
});

test('maskSvg: additive float masks (-Infinity or -1e9) and bool Tensors', () => {
  const add = new Float32Array([0, -Infinity, -1e9, 0, -0.5, 0]);
  const fills = cellFills(maskSvg(add, 2, 3));
  assert.deepEqual(
    fills.map((f) => f === MASK_COLORS.masked),
    [false, true, true, false, false, false],
  );
  const pad = new Tensor(new Uint8Array([0, 0, 1, 1]), [1, 4]); // key padding: last two keys
  const pf = cellFills(maskSvg(pad, 1, 4));
  assert.deepEqual(
    pf.map((f) => f === MASK_COLORS.masked),
    [false, false, true, true],
  );
  assert.throws(() => maskSvg(add, 3, 3), /expected rows\*cols = 9/);
  assert.throws(() => maskSvg(add, 2, 3, { rowTokens: ['a'] }), /1 row tokens for 2 rows/);
});
