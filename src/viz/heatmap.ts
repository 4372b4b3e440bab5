/**
 * The heatmap grid engine behind every matrix figure (attention maps, positional encoding
 * tables, masks): panels of equal size laid out in columns, each a matrix of <rect> cells with
 * labelled axes, plus one shared legend (a colour bar or swatches) to the right.
 *
 * Units: SVG user units (pixels). Values are read row-major: value (r, c) is values[r * cols + c].
 */
import {
  colormap,
  escapeXml,
  fmtTick,
  niceStep,
  niceTicks,
  num,
  text,
  textWidth,
  truncate,
  type ColormapName,
} from './svg.js';

/** How an axis is labelled: one label per cell (tokens), or numeric index ticks. */
export type Axis = { kind: 'tokens'; labels: readonly string[] } | { kind: 'index' };

/** The legend drawn to the right of a grid. */
export type Legend =
  | { kind: 'colorbar'; label?: string }
  | { kind: 'swatches'; items: { label: string; color: string }[] };

/** One heatmap grid: every panel has `rows` x `cols` values. */
export interface GridSpec {
  panels: { title: string; values: ArrayLike<number> }[];
  rows: number;
  cols: number;
  rowAxis: Axis;
  colAxis: Axis;
  /** Cell width and height. */
  cellW: number;
  cellH: number;
  /** Panels per row of the grid. */
  columns: number;
  cmap: ColormapName;
  /** Value range mapped onto the colour map (clamped outside). */
  vmin: number;
  vmax: number;
  /** Axis titles: x under the columns, y left of the rows. */
  xLabel: string;
  yLabel: string;
  legend: Legend;
  /** Cell colour; default: the colour map over [vmin, vmax]. */
  cellColor?: (v: number) => string;
  /** Draw thin white lines between cells (for small binary matrices such as masks). */
  gridLines?: boolean;
  /** Tooltip of cell (r, c) holding v; omitted when null. */
  cellTitle?: ((r: number, c: number, v: number) => string) | null;
}

/** A laid-out block: its size and a function drawing it with its top-left corner at (x, y). */
export interface Block {
  width: number;
  height: number;
  draw(x: number, y: number): string;
}

/** Fill of a non-finite value, outside every colour map. */
export const NAN_COLOR = '#ff00ff';

const MAX_LABEL_CHARS = 24;
const COS45 = Math.SQRT1_2;

/** Largest finite value over all panels (or -Infinity when there is none). */
export function finiteMax(panels: { values: ArrayLike<number> }[]): number {
  let m = -Infinity;
  for (const p of panels) {
    for (let i = 0; i < p.values.length; i++) {
      const v = p.values[i];
      if (Number.isFinite(v) && v > m) m = v;
    }
  }
  return m;
}

/** Index ticks for n cells: nice integers in [0, n - 1]. */
function indexTicks(n: number): number[] {
  if (n <= 1) return n === 1 ? [0] : [];
  const step = Math.max(1, niceStep(n - 1, Math.min(8, n - 1)));
  const out: number[] = [];
  for (let k = 0; k <= n - 1; k += step) out.push(k);
  return out;
}

/** Lay out one heatmap grid (panels + shared legend). */
export function heatmapGrid(spec: GridSpec): Block {
  const { rows, cols, cellW, cellH, panels } = spec;
  const columns = Math.max(1, Math.min(spec.columns, panels.length));
  const gridRows = Math.ceil(panels.length / columns);
  const plotW = cols * cellW;
  const plotH = rows * cellH;

  // Label fonts fit the cells (x labels are rotated 45 degrees, so they are cellW / sqrt 2
  // apart); when even 7 px text does not fit, only every k-th token is labelled.
  const rowFont = Math.max(7, Math.min(12, cellH * 0.8));
  const colFont = Math.max(7, Math.min(12, cellW * COS45 * 0.95));
  const rowEvery = Math.max(1, Math.ceil((rowFont * 1.05) / cellH));
  const colEvery = Math.max(1, Math.ceil((colFont * 1.05) / (cellW * COS45)));
  const tickFont = 10;
  const axisFont = 11;

  const rowLabels =
    spec.rowAxis.kind === 'tokens'
      ? spec.rowAxis.labels.map((s) => truncate(s, MAX_LABEL_CHARS))
      : [];
  const colLabels =
    spec.colAxis.kind === 'tokens'
      ? spec.colAxis.labels.map((s) => truncate(s, MAX_LABEL_CHARS))
      : [];
  const rowTicks = spec.rowAxis.kind === 'index' ? indexTicks(rows) : [];
  const colTicks = spec.colAxis.kind === 'index' ? indexTicks(cols) : [];

  // Space for labels around the plot area of a panel.
  const rowLabelW =
    spec.rowAxis.kind === 'tokens'
      ? Math.max(0, ...rowLabels.map((s) => textWidth(s, rowFont))) + 6
      : textWidth(String(Math.max(0, rows - 1)), tickFont) + 8;
  const maxColLabelW = Math.max(0, ...colLabels.map((s) => textWidth(s, colFont)));
  const colLabelH =
    spec.colAxis.kind === 'tokens' ? maxColLabelW * COS45 + colFont * COS45 + 6 : tickFont + 8;
  const yTitleW = spec.yLabel ? axisFont + 6 : 0;
  const xTitleH = spec.xLabel ? axisFont + 8 : 0;
  const titleH = 20;
  // Rotated column labels hang down-left from the first column's centre.
  const overhang = spec.colAxis.kind === 'tokens' ? maxColLabelW * COS45 - cellW / 2 : 0;
  const left = Math.max(yTitleW + rowLabelW, overhang + 4);
  const panelW =
    left + Math.max(plotW, textWidth(truncate(panels[0]?.title ?? '', 60), 12) - left) + 16;
  const panelH = titleH + plotH + colLabelH + xTitleH + 10;

  // Legend geometry.
  const legendGap = 12;
  let legendW: number;
  let legendH: number;
  const barW = 14;
  const barH = Math.max(80, Math.min(plotH, 240));
  const barTicks = niceTicks(spec.vmin, spec.vmax, 4);
  const barStep = barTicks.length > 1 ? barTicks[1] - barTicks[0] : Math.abs(spec.vmax) || 1;
  // Label the top of the scale too (the largest weight) when no tick is near it.
  const topGap = spec.vmax - barTicks[barTicks.length - 1];
  const topLabel =
    barTicks.length > 0 && topGap > 0.4 * barStep ? fmtTick(spec.vmax, barStep / 10) : null;
  if (spec.legend.kind === 'colorbar') {
    const labelW = Math.max(
      textWidth(topLabel ?? '', tickFont),
      ...barTicks.map((t) => textWidth(fmtTick(t, barStep), tickFont)),
    );
    legendW = barW + 6 + labelW + (spec.legend.label ? axisFont + 8 : 0) + 4;
    legendH = barH + 10;
  } else {
    legendW = 18 + Math.max(0, ...spec.legend.items.map((i) => textWidth(i.label, 11))) + 4;
    legendH = spec.legend.items.length * 18;
  }

  const width = columns * panelW + legendGap + legendW;
  const height = Math.max(gridRows * panelH, titleH + legendH);
  const color =
    spec.cellColor ??
    ((v: number) => {
      if (!Number.isFinite(v)) return NAN_COLOR;
      const span = spec.vmax - spec.vmin;
      return colormap(spec.cmap, span > 0 ? (v - spec.vmin) / span : 0);
    });

  function drawPanel(p: GridSpec['panels'][number], x0: number, y0: number): string {
    const px = x0 + left;
    const py = y0 + titleH;
    const parts: string[] = [];
    parts.push(
      text(x0 + left + plotW / 2, y0 + 14, truncate(p.title, 60), {
        'font-size': 12,
        'font-weight': 'bold',
        'text-anchor': 'middle',
      }),
    );
    const stroke = spec.gridLines ? ' stroke="#ffffff" stroke-width="1"' : '';
    parts.push(`<g class="cells" shape-rendering="crispEdges"${stroke}>`);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = Number(p.values[r * cols + c]);
        const rect = `<rect class="cell" x="${num(px + c * cellW)}" y="${num(py + r * cellH)}" width="${num(cellW)}" height="${num(cellH)}" fill="${color(v)}"`;
        const tip = spec.cellTitle ? spec.cellTitle(r, c, v) : null;
        parts.push(tip === null ? rect + '/>' : `${rect}>${tipElement(tip)}</rect>`);
      }
    }
    parts.push('</g>');
    parts.push(
      `<rect class="frame" x="${num(px)}" y="${num(py)}" width="${num(plotW)}" height="${num(plotH)}" fill="none" stroke="#888888" stroke-width="0.5"/>`,
    );
    // Row (y) labels.
    if (spec.rowAxis.kind === 'tokens') {
      rowLabels.forEach((s, r) => {
        if (r % rowEvery !== 0) return;
        parts.push(
          text(px - 4, py + (r + 0.5) * cellH, s, {
            'font-size': rowFont,
            'text-anchor': 'end',
            'dominant-baseline': 'central',
          }),
        );
      });
    } else {
      for (const r of rowTicks) {
        const y = py + (r + 0.5) * cellH;
        parts.push(
          `<line x1="${num(px - 3)}" y1="${num(y)}" x2="${num(px)}" y2="${num(y)}" stroke="#444444" stroke-width="0.8"/>`,
        );
        parts.push(
          text(px - 5, y, String(r), {
            'font-size': tickFont,
            'text-anchor': 'end',
            'dominant-baseline': 'central',
          }),
        );
      }
    }
    // Column (x) labels.
    const by = py + plotH;
    if (spec.colAxis.kind === 'tokens') {
      colLabels.forEach((s, c) => {
        if (c % colEvery !== 0) return;
        const x = px + (c + 0.5) * cellW;
        const y = by + 4;
        parts.push(
          text(x, y, s, {
            'font-size': colFont,
            'text-anchor': 'end',
            'dominant-baseline': 'hanging',
            transform: `rotate(-45 ${num(x)} ${num(y)})`,
          }),
        );
      });
    } else {
      for (const c of colTicks) {
        const x = px + (c + 0.5) * cellW;
        parts.push(
          `<line x1="${num(x)}" y1="${num(by)}" x2="${num(x)}" y2="${num(by + 3)}" stroke="#444444" stroke-width="0.8"/>`,
        );
        parts.push(
          text(x, by + 5, String(c), {
            'font-size': tickFont,
            'text-anchor': 'middle',
            'dominant-baseline': 'hanging',
          }),
        );
      }
    }
    // Axis titles.
    if (spec.xLabel) {
      parts.push(
        text(px + plotW / 2, by + colLabelH + axisFont + 2, spec.xLabel, {
          'font-size': axisFont,
          'text-anchor': 'middle',
          fill: '#555555',
        }),
      );
    }
    if (spec.yLabel) {
      const x = x0 + axisFont;
      const y = py + plotH / 2;
      parts.push(
        text(x, y, spec.yLabel, {
          'font-size': axisFont,
          'text-anchor': 'middle',
          fill: '#555555',
          transform: `rotate(-90 ${num(x)} ${num(y)})`,
        }),
      );
    }
    return parts.join('\n');
  }

  function drawLegend(x0: number, y0: number): string {
    const parts: string[] = [`<g class="legend">`];
    if (spec.legend.kind === 'colorbar') {
      const id = `cb${Math.round(x0)}_${Math.round(y0)}`;
      parts.push(`<defs><linearGradient id="${id}" x1="0" y1="1" x2="0" y2="0">`);
      for (let i = 0; i <= 16; i++) {
        parts.push(`<stop offset="${num(i / 16)}" stop-color="${colormap(spec.cmap, i / 16)}"/>`);
      }
      parts.push('</linearGradient></defs>');
      parts.push(
        `<rect class="colorbar" x="${num(x0)}" y="${num(y0)}" width="${barW}" height="${num(barH)}" fill="url(#${id})" stroke="#888888" stroke-width="0.5"/>`,
      );
      const span = spec.vmax - spec.vmin;
      for (const t of barTicks) {
        const y = y0 + barH - (span > 0 ? ((t - spec.vmin) / span) * barH : 0);
        parts.push(
          `<line x1="${num(x0 + barW)}" y1="${num(y)}" x2="${num(x0 + barW + 3)}" y2="${num(y)}" stroke="#444444" stroke-width="0.8"/>`,
        );
        parts.push(
          text(x0 + barW + 5, y, fmtTick(t, barStep), {
            'font-size': tickFont,
            'dominant-baseline': 'central',
          }),
        );
      }
      if (topLabel !== null) {
        parts.push(
          `<line x1="${num(x0 + barW)}" y1="${num(y0)}" x2="${num(x0 + barW + 3)}" y2="${num(y0)}" stroke="#444444" stroke-width="0.8"/>`,
        );
        parts.push(
          text(x0 + barW + 5, y0, topLabel, {
            'font-size': tickFont,
            'dominant-baseline': 'central',
          }),
        );
      }
      if (spec.legend.label) {
        const x = x0 + legendW - 6;
        const y = y0 + barH / 2;
        parts.push(
          text(x, y, spec.legend.label, {
            'font-size': axisFont,
            'text-anchor': 'middle',
            fill: '#555555',
            transform: `rotate(-90 ${num(x)} ${num(y)})`,
          }),
        );
      }
    } else {
      spec.legend.items.forEach((item, i) => {
        const y = y0 + i * 18;
        parts.push(
          `<rect class="swatch" x="${num(x0)}" y="${num(y)}" width="12" height="12" fill="${item.color}" stroke="#888888" stroke-width="0.5"/>`,
        );
        parts.push(
          text(x0 + 18, y + 6, item.label, { 'font-size': 11, 'dominant-baseline': 'central' }),
        );
      });
    }
    parts.push('</g>');
    return parts.join('\n');
  }

  return {
    width,
    height,
    draw(x: number, y: number): string {
      const parts: string[] = [];
      panels.forEach((p, i) => {
        const gx = x + (i % columns) * panelW;
        const gy = y + Math.floor(i / columns) * panelH;
        parts.push(`<g class="panel">`);
        parts.push(drawPanel(p, gx, gy));
        parts.push('</g>');
      });
      parts.push(drawLegend(x + columns * panelW + legendGap, y + titleH));
      return parts.join('\n');
    },
  };
}

function tipElement(tip: string): string {
  return `<title>${escapeXml(tip)}</title>`;
}
