/**
 * Strict UTF-8: text data must be valid UTF-8 (Unicode 15, Sec. 3.9, Table 3-7 "Well-Formed
 * UTF-8 Byte Sequences"; the WHATWG Encoding Standard's decoder with `fatal: true`), so binary
 * input is refused instead of turning into U+FFFD characters and being trained on. A NUL byte
 * is valid UTF-8 but never occurs in text, so it is refused as well (a binary file made of NULs
 * and ASCII would otherwise pass).
 *
 * Errors name the file and the 0-based byte offset of the first invalid sequence.
 */

const NUL_REASON = 'NUL byte (a binary file?)';

/** Why a byte sequence is not text: the offset of the first bad byte and what is wrong there. */
export interface Utf8Problem {
  /** 0-based byte offset where the invalid sequence (or the NUL byte) starts. */
  offset: number;
  /** e.g. 'invalid UTF-8 sequence (byte 0x89)' or 'NUL byte (binary file?)'. */
  reason: string;
}

/**
 * Find the first invalid UTF-8 sequence (or NUL byte) in `bytes[start, end)`, by Table 3-7:
 * a lead byte C2..DF takes one continuation 80..BF; E0 A0..BF; E1..EC, EE, EF 80..BF; ED 80..9F
 * (no surrogates); those take one more 80..BF; F0 90..BF; F1..F3 80..BF; F4 80..8F (at most
 * U+10FFFF), then two more 80..BF. C0, C1, F5..FF and a lone continuation byte are invalid.
 * @param bytes the data.
 * @param start first byte to look at; must be the start of a sequence.
 * @param atEnd true if `end` is the end of the data: a sequence cut by it is invalid; false
 *   (streaming) lets a sequence run past `end` unchecked.
 * @returns the problem, or null if the bytes are text.
 */
export function findUtf8Problem(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
  atEnd = true,
): Utf8Problem | null {
  const hex = (b: number): string => '0x' + b.toString(16).toUpperCase().padStart(2, '0');
  for (let i = start; i < end; ) {
    const b = bytes[i];
    if (b === 0) return { offset: i, reason: NUL_REASON };
    if (b < 0x80) {
      i++;
      continue;
    }
    let n: number; // continuation bytes
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return { offset: i, reason: `invalid UTF-8 sequence (byte ${hex(b)})` };
    for (let k = 1; k <= n; k++) {
      if (i + k >= end) {
        if (!atEnd) return null;
        return { offset: i, reason: `truncated UTF-8 sequence at the end (byte ${hex(b)})` };
      }
      const c = bytes[i + k];
      if (c < lo || c > hi) {
        return { offset: i, reason: `invalid UTF-8 sequence (bytes ${hex(b)} ${hex(c)})` };
      }
      lo = 0x80;
      hi = 0xbf;
    }
    i += n + 1;
  }
  return null;
}

/** What is wrong, for an error message: `not UTF-8 text: <reason> at byte offset N`. */
export function describeUtf8Problem(p: Utf8Problem): string {
  return `not UTF-8 text: ${p.reason} at byte offset ${p.offset}`;
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decode bytes as strict UTF-8 and strip a leading byte-order mark (U+FEFF).
 * @param bytes the whole file.
 * @param fail makes the caller's error (naming its file) from the problem's description.
 * @returns the text.
 * @throws the error of `fail` for the first invalid sequence or NUL byte.
 */
export function decodeUtf8Strict(bytes: Uint8Array, fail: (detail: string) => Error): string {
  let text: string;
  try {
    text = fatalDecoder.decode(bytes);
  } catch {
    throw fail(describeUtf8Problem(findUtf8Problem(bytes) ?? { offset: 0, reason: '?' }));
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw fail(describeUtf8Problem({ offset: nul, reason: NUL_REASON }));
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
