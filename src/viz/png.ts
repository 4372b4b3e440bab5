/**
 * PNG output through the optional package `@resvg/resvg-js` (resvg, a Rust SVG renderer
 * shipped as prebuilt binaries inside npm packages), and `writeFigure`, which writes .svg or
 * .png by extension.
 *
 * Fonts: resvg draws text only with fonts it is given. We pass the font files found in the
 * usual Debian places (DejaVu Sans from `fonts-dejavu-core`, and for Chinese/Japanese/Korean
 * WenQuanYi Micro Hei from `fonts-wqy-microhei` or Noto CJK from `fonts-noto-cjk`), plus any
 * in the environment variable TRANSFORMER_FONT_FILES (paths separated by ':').
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, basename, extname, join } from 'node:path';

/** The part of @resvg/resvg-js used here. */
interface ResvgModule {
  Resvg: new (
    svg: string,
    opts?: {
      background?: string;
      fitTo?:
        { mode: 'original' } | { mode: 'width'; value: number } | { mode: 'zoom'; value: number };
      font?: { loadSystemFonts?: boolean; fontFiles?: string[]; defaultFontFamily?: string };
    },
  ) => { render(): { asPng(): Uint8Array; width: number; height: number } };
}

/** Font files looked for, in order; the first found sets the default family. */
const KNOWN_FONTS: { file: string; family: string }[] = [
  { file: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', family: 'DejaVu Sans' },
  { file: '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf', family: 'DejaVu Sans' },
  { file: '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc', family: 'WenQuanYi Micro Hei' },
  { file: '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc', family: 'Noto Sans CJK SC' },
  {
    file: '/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf',
    family: 'Droid Sans Fallback',
  },
];

let cachedModule: ResvgModule | null = null;
let warnedNoFonts = false;

function loadResvg(): ResvgModule {
  if (cachedModule) return cachedModule;
  const require = createRequire(import.meta.url);
  try {
    cachedModule = require('@resvg/resvg-js') as ResvgModule;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND') {
      throw new Error(
        'svgToPng: PNG output needs the optional package @resvg/resvg-js, which is not installed. ' +
          'Run `npm install @resvg/resvg-js`, or write the figure as .svg instead.',
        { cause: e },
      );
    }
    throw new Error(`svgToPng: loading @resvg/resvg-js failed: ${err.message}`, { cause: e });
  }
  return cachedModule;
}

/** Whether `svgToPng` can run here (the optional package @resvg/resvg-js loads). */
export function pngAvailable(): boolean {
  try {
    loadResvg();
    return true;
  } catch {
    return false;
  }
}

/** Font files `svgToPng` passes to the renderer and the default family (null if none found). */
export function findFonts(): { files: string[]; defaultFamily: string | null } {
  const files: string[] = [];
  let defaultFamily: string | null = null;
  const extra = (process.env.TRANSFORMER_FONT_FILES ?? '').split(':').filter((f) => f.length > 0);
  for (const f of extra) {
    if (!existsSync(f))
      throw new Error(`svgToPng: font file '${f}' from TRANSFORMER_FONT_FILES does not exist`);
    files.push(f);
  }
  for (const { file, family } of KNOWN_FONTS) {
    if (existsSync(file)) {
      files.push(file);
      defaultFamily ??= family;
    }
  }
  return { files, defaultFamily };
}

/**
 * Rasterize an SVG document to PNG bytes at its own size (1 SVG unit = 1 pixel), or scaled by
 * `opts.scale` (2 for a sharper image).
 * @param svg SVG text, e.g. from `attentionHeatmapSvg`.
 * @param opts scale: zoom factor (default 1); fontFiles: extra font files to load.
 * @returns the PNG file's bytes.
 * @throws Error when @resvg/resvg-js is not installed (the message says how to install it),
 *   when the SVG cannot be parsed, or for a non-positive scale. Warns once (process warning)
 *   when no font is found, since text is then not drawn.
 */
export function svgToPng(
  svg: string,
  opts: { scale?: number; fontFiles?: string[] } = {},
): Uint8Array {
  const scale = opts.scale ?? 1;
  if (!(scale > 0 && Number.isFinite(scale))) {
    throw new Error(`svgToPng: option scale must be a positive number, got ${scale}`);
  }
  const { Resvg } = loadResvg();
  const found = findFonts();
  const fontFiles = [...(opts.fontFiles ?? []), ...found.files];
  if (fontFiles.length === 0 && !warnedNoFonts) {
    warnedNoFonts = true;
    process.emitWarning(
      'svgToPng: no font files found, so text may be missing from PNGs; install the Debian ' +
        'package fonts-dejavu-core (and fonts-wqy-microhei for Chinese) or set TRANSFORMER_FONT_FILES',
    );
  }
  const r = new Resvg(svg, {
    background: '#ffffff',
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    font: {
      // With known files the system scan is unnecessary; without, it is the last resort.
      loadSystemFonts: fontFiles.length === 0,
      fontFiles,
      defaultFontFamily: found.defaultFamily ?? 'DejaVu Sans',
    },
  });
  const png = r.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Write a figure atomically (temporary file in the same folder, then rename): `.svg` as is,
 * `.png` rasterized by `svgToPng`. The extension is matched case-insensitively.
 * @param path destination file.
 * @param svg SVG text.
 * @throws Error naming the extension when it is neither .svg nor .png; errors of `svgToPng`;
 *   file-system errors (the temporary file is removed).
 */
export function writeFigure(path: string, svg: string): void {
  const ext = extname(path).toLowerCase();
  let bytes: string | Uint8Array;
  if (ext === '.svg') bytes = svg;
  else if (ext === '.png') bytes = svgToPng(svg);
  else {
    throw new Error(
      `writeFigure: unknown figure extension '${ext || '(none)'}' in '${path}' (expected .svg or .png)`,
    );
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
