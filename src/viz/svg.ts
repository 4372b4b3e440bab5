/**
 * Small SVG building blocks shared by the figures: XML escaping, number formatting, text
 * width estimates, colour maps and "nice" axis ticks.
 *
 * Units: every length is in SVG user units, which are CSS pixels at 100% zoom and PNG
 * pixels when rendered by `svgToPng` at scale 1.
 */

/** Font stack for every text element: DejaVu for Latin/Greek/Cyrillic, then CJK fallbacks. */
export const FONT_FAMILY =
  "'DejaVu Sans', 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Droid Sans Fallback', Arial, sans-serif";

/**
 * Escape text for use in XML character data and in attribute values (either quote).
 * Non-ASCII characters are kept as they are (the documents are UTF-8); characters that XML
 * 1.0 forbids (most C0 controls, lone surrogates) are replaced by U+FFFD so the document
 * stays well-formed.
 */
export function escapeXml(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&#39;';
    else if (c === 0x9 || c === 0xa || c === 0xd) out += `&#${c};`;
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff)
      out += '\uFFFD';
    else out += ch;
  }
  return out;
}

/** A coordinate or length with at most 2 decimals and no trailing zeros ("12.5", "3"). */
export function num(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** Whether a code point is drawn about one em wide (CJK, kana, hangul, full-width forms). */
function isWide(c: number): boolean {
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1faff) ||
    (c >= 0x20000 && c <= 0x3fffd)
  );
}

/** Estimated width of `s` set in DejaVu Sans at `fontSize` (about 0.62 em per Latin glyph). */
export function textWidth(s: string, fontSize: number): number {
  let w = 0;
  for (const ch of s) w += isWide(ch.codePointAt(0)!) ? 1 : 0.62;
  return w * fontSize;
}

/** Shorten `s` to at most `max` characters (code points), ending with an ellipsis. */
export function truncate(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, Math.max(1, max - 1)).join('') + '…';
}

/** `<text>` element; `text` is escaped here. */
export function text(
  x: number,
  y: number,
  content: string,
  attrs: Record<string, string | number> = {},
): string {
  let a = '';
  for (const [k, v] of Object.entries(attrs))
    a += ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`;
  return `<text x="${num(x)}" y="${num(y)}"${a}>${escapeXml(content)}</text>`;
}

/** Opening of a standalone UTF-8 SVG document with a white background. */
export function svgOpen(width: number, height: number): string {
  const w = num(Math.ceil(width));
  const h = num(Math.ceil(height));
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ` +
    `font-family="${escapeXml(FONT_FAMILY)}">\n` +
    `<rect class="background" x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>\n`
  );
}

// ---------------------------------------------------------------------------------------------
// Colour maps

/** Names of the built-in colour maps. */
export type ColormapName = 'blues' | 'viridis' | 'rdbu' | 'greys';

const STOPS: Record<ColormapName, string[]> = {
  // ColorBrewer Blues (9): every channel non-increasing, so darker for larger values.
  blues: [
    '#f7fbff',
    '#deebf7',
    '#c6dbef',
    '#9ecae1',
    '#6baed6',
    '#4292c6',
    '#2171b5',
    '#08519c',
    '#08306b',
  ],
  // matplotlib viridis sampled at 10 points: dark purple (low) to yellow (high).
  viridis: [
    '#440154',
    '#482878',
    '#3e4989',
    '#31688e',
    '#26828e',
    '#1f9e89',
    '#35b779',
    '#6ece58',
    '#b5de2b',
    '#fde725',
  ],
  // ColorBrewer RdBu (9) reversed: blue (negative), white (0), red (positive).
  rdbu: [
    '#2166ac',
    '#4393c3',
    '#92c5de',
    '#d1e5f0',
    '#f7f7f7',
    '#fddbc7',
    '#f4a582',
    '#d6604d',
    '#b2182b',
  ],
  greys: ['#ffffff', '#d9d9d9', '#969696', '#525252', '#000000'],
};

function parseHex(c: string): [number, number, number] {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

const PARSED: Record<ColormapName, [number, number, number][]> = {
  blues: STOPS.blues.map(parseHex),
  viridis: STOPS.viridis.map(parseHex),
  rdbu: STOPS.rdbu.map(parseHex),
  greys: STOPS.greys.map(parseHex),
};

function hex2(v: number): string {
  return Math.round(Math.min(255, Math.max(0, v)))
    .toString(16)
    .padStart(2, '0');
}

/**
 * Colour of `t` in [0, 1] (clamped) on a colour map, as "#rrggbb", by linear interpolation
 * between the map's stops.
 * @throws Error for an unknown colour map name.
 */
export function colormap(name: ColormapName, t: number): string {
  const stops = PARSED[name];
  if (!stops) throw new Error(`colormap: unknown colour map '${String(name)}'`);
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const a = stops[i];
  const b = stops[i + 1];
  return (
    '#' +
    hex2(a[0] + (b[0] - a[0]) * f) +
    hex2(a[1] + (b[1] - a[1]) * f) +
    hex2(a[2] + (b[2] - a[2]) * f)
  );
}

/** Validate a colour map name, naming the option when it is wrong. */
export function checkColormap(name: string, where: string): ColormapName {
  if (!(name in STOPS)) {
    throw new Error(
      `${where}: unknown colormap '${name}' (expected one of ${Object.keys(STOPS).join(', ')})`,
    );
  }
  return name as ColormapName;
}

// ---------------------------------------------------------------------------------------------
// Ticks

/** A "nice" step (1, 2, 2.5 or 5 times a power of ten) near `span / count`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  const nice = m < 1.5 ? 1 : m < 2.25 ? 2 : m < 3.5 ? 2.5 : m < 7.5 ? 5 : 10;
  return nice * p;
}

/**
 * Nice tick values inside [lo, hi] (both ends inclusive), about `count` of them.
 * Returns [lo] when lo == hi.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const step = niceStep(hi - lo, count);
  const eps = step * 1e-9;
  const out: number[] = [];
  for (let k = Math.ceil((lo - eps) / step); k * step <= hi + eps; k++) {
    // Round away floating error (0.30000000000000004 -> 0.3).
    out.push(Number((k * step).toPrecision(12)));
  }
  return out;
}

/** Decimals needed to write `step` exactly (0.25 -> 2, 5 -> 0), at most 10. */
function decimalsOf(step: number): number {
  for (let d = 0; d < 10; d++) {
    const scaled = step * Math.pow(10, d);
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 10;
}

/** Format a tick value so that ticks `step` apart read differently and compactly. */
export function fmtTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const digits = Math.min(6, Math.max(1, Math.ceil(Math.log10(a / step) + 1e-9) + 1));
    return v.toExponential(digits - 1).replace(/\.?0+e/, 'e');
  }
  return v.toFixed(decimalsOf(step));
}
