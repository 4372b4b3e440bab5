/**
 * Heatmaps of the fixed tables a learner meets in the Transformer: the sinusoidal positional
 * encoding (Vaswani et al. 2017, Sec. 3.5, PE(pos, 2i) = sin(pos / 10000^(2i/d_model)),
 * PE(pos, 2i+1) = cos(...)) and attention masks (causal and padding).
 *
 * Shape letters: T query length, S key length, C d_model.
 */
import type { Tensor } from '../tensor.js';
import { heatmapGrid } from './heatmap.js';
import { checkColormap, svgOpen, text, textWidth, type ColormapName } from './svg.js';

function wrap(grid: ReturnType<typeof heatmapGrid>, title: string | undefined): string {
  const margin = 12;
  const titleH = title ? 30 : 0;
  const width = Math.max(grid.width, title ? textWidth(title, 16) : 0) + 2 * margin;
  const height = grid.height + titleH + 2 * margin;
  let out = svgOpen(width, height);
  if (title)
    out += text(margin, margin + 18, title, { 'font-size': 16, 'font-weight': 'bold' }) + '\n';
  return out + grid.draw(margin, margin + titleH) + '\n</svg>\n';
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function checkSize(n: number, name: string, where: string): void {
  if (!(Number.isInteger(n) && n >= 1))
    throw new Error(`${where}: ${name} must be a positive integer, got ${n}`);
}

/**
 * Heatmap of a positional-encoding table, positions down the y axis and dimensions along x,
 * on a diverging scale (blue -1, white 0, red +1 for a sinusoid table).
 * @param table (maxLen, dModel) float32, row-major (e.g. `sinusoidTable(maxLen, C).f32`), or
 *   the Tensor itself.
 * @param maxLen number of positions (rows).
 * @param dModel model width C (columns).
 * @param opts title; cellWidth/cellHeight in px (default: fit about 640 x 400 px, 1 to 12 px
 *   per cell); colormap (default 'rdbu').
 * @returns the SVG text (one <rect> per entry: keep maxLen * dModel below ~100k).
 * @throws Error when the table's length is not maxLen * dModel, or on a bad option.
 */
export function positionalEncodingSvg(
  table: Float32Array | number[] | Tensor,
  maxLen: number,
  dModel: number,
  opts: { title?: string; cellWidth?: number; cellHeight?: number; colormap?: ColormapName } = {},
): string {
  const where = 'positionalEncodingSvg';
  checkSize(maxLen, 'maxLen', where);
  checkSize(dModel, 'dModel', where);
  const values: ArrayLike<number> =
    Array.isArray(table) || table instanceof Float32Array ? table : table.data;
  if (values.length !== maxLen * dModel) {
    throw new Error(
      `${where}: table has ${values.length} values, expected maxLen*dModel = ${maxLen * dModel}`,
    );
  }
  let amax = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (Number.isFinite(a) && a > amax) amax = a;
  }
  if (amax === 0) amax = 1;
  const cmap = checkColormap(opts.colormap ?? 'rdbu', `${where}: option colormap`);
  const small = maxLen * dModel <= 4096;
  return wrap(
    heatmapGrid({
      panels: [{ title: `${maxLen} positions x ${dModel} dimensions`, values }],
      rows: maxLen,
      cols: dModel,
      rowAxis: { kind: 'index' },
      colAxis: { kind: 'index' },
      cellW: opts.cellWidth ?? clamp(640 / dModel, 1, 12),
      cellH: opts.cellHeight ?? clamp(400 / maxLen, 1, 12),
      columns: 1,
      cmap,
      vmin: -amax,
      vmax: amax,
      xLabel: 'dimension i',
      yLabel: 'position pos',
      legend: { kind: 'colorbar', label: 'PE(pos, i)' },
      cellTitle: small ? (r, c, v) => `PE(${r}, ${c}) = ${v.toFixed(4)}` : null,
    }),
    opts.title ?? 'Sinusoidal positional encoding',
  );
}

/** Colours of `maskSvg`: keys a query may attend, and masked keys. */
export const MASK_COLORS = { allowed: '#6baed6', masked: '#404040' } as const;

/**
 * Picture of an attention mask: which key (x axis) each query (y axis) may attend.
 * Follows PyTorch's convention: a bool mask is true where attention is NOT allowed; an
 * additive float mask forbids where it is -Infinity (or <= -1e9, as some code uses -1e9).
 * @param mask (rows, cols) row-major: a bool Tensor / Uint8Array / boolean[] / number[] (nonzero
 *   = masked), or a float32 Tensor / Float32Array (additive). `opts.kind` overrides.
 * @param rows queries T; cols keys S.
 * @param opts title; rowTokens/colTokens to label the axes (else indices); cellSize in px.
 * @returns the SVG text.
 * @throws Error when the sizes disagree or on a bad option.
 */
export function maskSvg(
  mask: Tensor | Uint8Array | Float32Array | Int32Array | boolean[] | number[],
  rows: number,
  cols: number,
  opts: {
    title?: string;
    rowTokens?: string[];
    colTokens?: string[];
    cellSize?: number;
    kind?: 'bool' | 'additive';
  } = {},
): string {
  const where = 'maskSvg';
  checkSize(rows, 'rows', where);
  checkSize(cols, 'cols', where);
  const isTensor = !(Array.isArray(mask) || ArrayBuffer.isView(mask));
  const data = isTensor ? (mask as Tensor).data : (mask as ArrayLike<number | boolean>);
  const kind =
    opts.kind ??
    ((isTensor ? (mask as Tensor).dtype === 'float32' : mask instanceof Float32Array)
      ? 'additive'
      : 'bool');
  if (kind !== 'bool' && kind !== 'additive') {
    throw new Error(`${where}: option kind must be 'bool' or 'additive', got '${String(kind)}'`);
  }
  if (data.length !== rows * cols) {
    throw new Error(
      `${where}: mask has ${data.length} values, expected rows*cols = ${rows * cols}`,
    );
  }
  if (opts.rowTokens && opts.rowTokens.length !== rows) {
    throw new Error(`${where}: ${opts.rowTokens.length} row tokens for ${rows} rows`);
  }
  if (opts.colTokens && opts.colTokens.length !== cols) {
    throw new Error(`${where}: ${opts.colTokens.length} column tokens for ${cols} columns`);
  }
  if (opts.cellSize !== undefined && !(opts.cellSize > 0)) {
    throw new Error(`${where}: cellSize must be a positive number, got ${opts.cellSize}`);
  }
  // 1 = masked, 0 = allowed.
  const masked = new Float32Array(rows * cols);
  for (let i = 0; i < masked.length; i++) {
    const v = Number(data[i]);
    masked[i] = kind === 'bool' ? (v !== 0 ? 1 : 0) : v === -Infinity || v <= -1e9 ? 1 : 0;
  }
  const cell = opts.cellSize ?? clamp(400 / Math.max(rows, cols), 4, 22);
  const tok = (labels: string[] | undefined, i: number) => (labels ? ` '${labels[i]}'` : '');
  return wrap(
    heatmapGrid({
      panels: [{ title: `${rows} queries x ${cols} keys`, values: masked }],
      rows,
      cols,
      rowAxis: opts.rowTokens ? { kind: 'tokens', labels: opts.rowTokens } : { kind: 'index' },
      colAxis: opts.colTokens ? { kind: 'tokens', labels: opts.colTokens } : { kind: 'index' },
      cellW: cell,
      cellH: cell,
      columns: 1,
      cmap: 'greys',
      vmin: 0,
      vmax: 1,
      xLabel: 'key',
      yLabel: 'query',
      legend: {
        kind: 'swatches',
        items: [
          { label: 'may attend', color: MASK_COLORS.allowed },
          { label: 'masked', color: MASK_COLORS.masked },
        ],
      },
      cellColor: (v) => (v ? MASK_COLORS.masked : MASK_COLORS.allowed),
      gridLines: cell >= 8,
      cellTitle:
        rows * cols <= 4096
          ? (r, c, v) =>
              `query ${r}${tok(opts.rowTokens, r)}, key ${c}${tok(opts.colTokens, c)}: ${v ? 'masked' : 'may attend'}`
          : null,
    }),
    opts.title ?? 'Attention mask',
  );
}
