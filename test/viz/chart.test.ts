import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSvg, niceTicks } from '../../src/viz/index.js';
import { parseXml, type XmlElement } from './xml.js';

const opts = { title: 'Loss', xLabel: 'step', yLabel: 'loss' };

function polylines(els: XmlElement[]): XmlElement[] {
  return els.filter((e) => e.name === 'polyline');
}

function pointCount(p: XmlElement): number {
  return p.attrs.points.trim().split(/\s+/).length;
}

function tickValues(els: XmlElement[], axis: 'x' | 'y'): number[] {
  // Tick labels carry their value in data-value; they follow their group's <g> in order.
  const start = els.findIndex((e) => e.name === 'g' && e.attrs.class === `${axis}-ticks`);
  const out: number[] = [];
  for (let i = start + 1; i < els.length && els[i].name !== 'g'; i++) {
    if (els[i].name === 'text' && 'data-value' in els[i].attrs) {
      out.push(Number(els[i].attrs['data-value']));
    }
  }
  return out;
}

test('lineChartSvg: one polyline per series, NaN and Infinity points skipped', () => {
  const train: [number, number][] = [];
  for (let s = 0; s <= 100; s++) train.push([s, 3 * Math.exp(-s / 30) + 1]);
  train[10][1] = NaN;
  train[20][1] = Infinity;
  train[30][0] = NaN;
  const val: [number, number][] = [
    [0, 4],
    [50, NaN],
    [100, 1.5],
  ];
  const svg = lineChartSvg(
    [
      { name: 'train <loss>', points: train },
      { name: 'validation', points: val },
    ],
    opts,
  );
  const els = parseXml(svg);
  const lines = polylines(els);
  assert.equal(lines.length, 2);
  assert.equal(lines[0].attrs['data-series'], 'train <loss>');
  assert.equal(pointCount(lines[0]), 101 - 3);
  assert.equal(pointCount(lines[1]), 2);
  assert.ok(svg.includes('train &lt;loss&gt;'));
  // Every coordinate is a finite number inside the figure.
  for (const l of lines) {
    for (const xy of l.attrs.points.trim().split(/\s+/)) {
      const [x, y] = xy.split(',').map(Number);
      assert.ok(x >= 0 && x <= 640 && y >= 0 && y <= 400, `point ${xy} outside the figure`);
    }
  }
  // Legend names both series.
  const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
  assert.ok(texts.includes('validation'));
});

test('lineChartSvg: ticks are nice and lie within the data range (y padded by 5%)', () => {
  const pts: [number, number][] = [
    [100, 2.37],
    [350, 1.91],
    [1230, 0.84],
  ];
  const els = parseXml(lineChartSvg([{ name: 'loss', points: pts }], opts));
  const xs = tickValues(els, 'x');
  const ys = tickValues(els, 'y');
  assert.ok(xs.length >= 3, `x ticks ${xs}`);
  assert.ok(ys.length >= 3, `y ticks ${ys}`);
  for (const x of xs) assert.ok(x >= 100 && x <= 1230, `x tick ${x} outside [100, 1230]`);
  const pad = (2.37 - 0.84) * 0.05;
  for (const y of ys)
    assert.ok(y >= 0.84 - pad && y <= 2.37 + pad, `y tick ${y} outside data range`);
  // Evenly spaced, round steps.
  const step = ys[1] - ys[0];
  for (let i = 2; i < ys.length; i++) assert.ok(Math.abs(ys[i] - ys[i - 1] - step) < 1e-9);
  assert.ok(
    [0.1, 0.2, 0.25, 0.5, 1].some((s) => Math.abs(s - step) < 1e-12),
    `step ${step}`,
  );
});

test('lineChartSvg: logY skips y <= 0 and puts ticks at powers of ten', () => {
  const pts: [number, number][] = [
    [0, 1000],
    [1, 10],
    [2, 0],
    [3, -1],
    [4, 0.1],
  ];
  const els = parseXml(lineChartSvg([{ name: 'ppl', points: pts }], { ...opts, logY: true }));
  assert.equal(pointCount(polylines(els)[0]), 3);
  assert.deepEqual(tickValues(els, 'y'), [0.1, 1, 10, 100, 1000]);
});

test('lineChartSvg: a single point is drawn with a marker; empty input says "no data"', () => {
  const one = parseXml(lineChartSvg([{ name: 'val', points: [[5, 0.7]] }], opts));
  assert.equal(pointCount(polylines(one)[0]), 1);
  assert.equal(one.filter((e) => e.name === 'circle').length, 1);
  for (const y of tickValues(one, 'y')) assert.ok(y >= 0.63 && y <= 0.77, `y tick ${y}`);

  for (const series of [[], [{ name: 'nan only', points: [[NaN, 1] as [number, number]] }]]) {
    const els = parseXml(lineChartSvg(series, opts));
    assert.equal(polylines(els).length, 0);
    assert.ok(els.some((e) => e.name === 'text' && e.text === 'no data'));
  }
});

test('lineChartSvg: rejects a figure too small to draw', () => {
  assert.throws(
    () => lineChartSvg([], { ...opts, width: 50 }),
    /option width must be a number >= 200/,
  );
});

test('niceTicks: round values inside the range', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.13, 0.61, 4), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.deepEqual(niceTicks(-7, 23, 3), [0, 10, 20]);
  assert.deepEqual(niceTicks(5, 5), [5]);
  assert.deepEqual(niceTicks(0, NaN), []);
});
