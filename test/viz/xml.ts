/**
 * A tiny XML well-formedness checker for the SVG tests: balanced and properly nested tags,
 * quoted unique attributes, only predefined or numeric entity references, no raw '<' or '&'
 * in text. Enough to catch unescaped tokens; not a full XML parser.
 */

/** An element as the checker saw it. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** Text directly inside the element (entities decoded). */
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;

function decode(s: string, where: number): string {
  return s.replace(/&([^;]*);/g, (_, ent: string) => {
    if (ent === 'amp') return '&';
    if (ent === 'lt') return '<';
    if (ent === 'gt') return '>';
    if (ent === 'quot') return '"';
    if (ent === 'apos') return "'";
    const m = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ent);
    if (m)
      return String.fromCodePoint(
        parseInt(ent.slice(1).replace('x', '0x'), ent[1] === 'x' ? 16 : 10),
      );
    throw new Error(`bad entity &${ent}; near offset ${where}`);
  });
}

function checkText(s: string, where: number): string {
  if (s.includes('<')) throw new Error(`raw '<' in text near offset ${where}`);
  if (/&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/.test(s)) {
    throw new Error(`raw '&' in text near offset ${where}`);
  }
  return decode(s, where);
}

/**
 * Parse `xml`, throwing on the first well-formedness error found.
 * @returns every element in document order.
 */
export function parseXml(xml: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let i = 0;
  let roots = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const chunk = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    const t = checkText(chunk, i);
    if (stack.length > 0) stack[stack.length - 1].text += t;
    else if (chunk.trim() !== '') throw new Error(`text outside the root element at offset ${i}`);
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new Error(`unterminated tag at offset ${lt}`);
    let tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new Error(
          `closing </${name}> at offset ${lt} does not match <${open?.name ?? '(none)'}>`,
        );
      }
      i = gt + 1;
      continue;
    }
    const selfClosing = tag.endsWith('/');
    if (selfClosing) tag = tag.slice(0, -1);
    const nm = NAME.exec(tag);
    if (!nm) throw new Error(`bad tag name at offset ${lt}`);
    const el: XmlElement = { name: nm[0], attrs: {}, text: '' };
    let rest = tag.slice(nm[0].length);
    const attrRe = /^\s+([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/;
    for (;;) {
      const m = attrRe.exec(rest);
      if (!m) break;
      if (m[1] in el.attrs) throw new Error(`duplicate attribute ${m[1]} at offset ${lt}`);
      el.attrs[m[1]] = checkText(m[3] ?? m[4], lt);
      rest = rest.slice(m[0].length);
    }
    if (rest.trim() !== '')
      throw new Error(`malformed attributes '${rest.slice(0, 40)}' at offset ${lt}`);
    if (stack.length === 0) {
      roots++;
      if (roots > 1) throw new Error('more than one root element');
    }
    out.push(el);
    if (!selfClosing) stack.push(el);
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (roots !== 1) throw new Error('no root element');
  return out;
}

/** Relative luminance-like brightness of "#rrggbb" (0 black .. 1 white). */
export function brightness(hex: string): number {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new Error(`not a #rrggbb colour: ${hex}`);
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h, 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
