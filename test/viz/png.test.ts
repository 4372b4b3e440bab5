import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attentionHeatmapSvg,
  lineChartSvg,
  pngAvailable,
  svgToPng,
  writeFigure,
} from '../../src/viz/index.js';

const noPng = pngAvailable() ? false : 'optional package @resvg/resvg-js is not installed';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function svgSize(svg: string): [number, number] {
  const m = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg);
  assert.ok(m, 'svg has no integer width/height');
  return [Number(m[1]), Number(m[2])];
}

/** Width and height from the PNG's IHDR chunk (big-endian at bytes 16 and 20). */
function ihdr(png: Uint8Array): [number, number] {
  assert.deepEqual([...png.slice(0, 8)], PNG_SIGNATURE);
  assert.equal(Buffer.from(png.slice(12, 16)).toString('ascii'), 'IHDR');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return [dv.getUint32(16), dv.getUint32(20)];
}

function heatmap(): string {
  return attentionHeatmapSvg(
    [{ title: 'layer 1 head 1', weights: [0.9, 0.1, 0.2, 0.8], rows: 2, cols: 2 }],
    { rowTokens: ['<s>', 'Katze'], colTokens: ['猫', 'ü'] },
  );
}

test('svgToPng: PNG signature and the SVG size in IHDR', { skip: noPng }, () => {
  for (const svg of [
    heatmap(),
    lineChartSvg(
      [
        {
          name: 'loss',
          points: [
            [0, 2],
            [1, 1],
          ],
        },
      ],
      {
        title: 't',
        xLabel: 'x',
        yLabel: 'y',
        width: 333,
        height: 222,
      },
    ),
  ]) {
    const png = svgToPng(svg);
    assert.deepEqual(ihdr(png), svgSize(svg));
  }
  const [w, h] = svgSize(heatmap());
  assert.deepEqual(ihdr(svgToPng(heatmap(), { scale: 2 })), [2 * w, 2 * h]);
  assert.throws(() => svgToPng(heatmap(), { scale: 0 }), /option scale/);
});

test('writeFigure: .svg as is, .png rasterized, no temporary files left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'viz-'));
  try {
    const svg = heatmap();
    writeFigure(join(dir, 'a.svg'), svg);
    assert.equal(readFileSync(join(dir, 'a.svg'), 'utf8'), svg);
    if (!noPng) {
      writeFigure(join(dir, 'b.PNG'), svg);
      assert.deepEqual(ihdr(new Uint8Array(readFileSync(join(dir, 'b.PNG')))), svgSize(svg));
    }
    assert.throws(() => writeFigure(join(dir, 'c.jpg'), svg), /unknown figure extension '\.jpg'/);
    assert.throws(
      () => writeFigure(join(dir, 'noext'), svg),
      /unknown figure extension '\(none\)'/,
    );
    assert.throws(() => writeFigure(join(dir, 'missing', 'd.svg'), svg), /ENOENT/);
    assert.ok(!existsSync(join(dir, 'c.jpg')));
    assert.deepEqual(readdirSync(dir).sort(), noPng ? ['a.svg'] : ['a.svg', 'b.PNG']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
