/**
 * Mutations for the file-reader fuzz (issue #11, "A fuzz suite that stays"): byte-level
 * (bit flips, interesting bytes, truncation, insertion, deletion, duplication, invalid UTF-8)
 * and JSON-level (giant or odd numbers, deep nesting, duplicate keys, huge counts, values of
 * the wrong type), plus the safetensors framing (the header length field, the header
 * rewritten around an unchanged data section). Every choice comes from the seeded Generator,
 * so a case is reproduced by its seed alone.
 */
import type { Generator } from '../../src/random.js';

/** One mutation: new bytes from old (the input is never modified). */
export type Mutation = (bytes: Uint8Array, g: Generator, maxBytes: number) => Uint8Array;

/** Default largest mutated file, so a case stays within the fuzz's memory bound by construction. */
export const MAX_OUTPUT_BYTES = 2_000_000;

const enc = new TextEncoder();
const dec = new TextDecoder(); // lenient: a mutated file may already hold invalid UTF-8

const pick = <T>(g: Generator, xs: readonly T[]): T => xs[g.randint(xs.length)];
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const INTERESTING_BYTES = [0, 0xff, 0x7f, 0x80, 0x22, 0x5b, 0x5d, 0x7b, 0x7d, 0x2c, 0x3a, 0x5c];
const INVALID_UTF8 = [
  [0xff],
  [0xc0, 0x80], // overlong NUL
  [0xed, 0xa0, 0x80], // UTF-8-encoded lone surrogate
  [0xe2, 0x82], // truncated sequence
  [0x80], // lone continuation byte
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
];
const ODD_NUMBERS = [
  '1e400',
  '-1e400',
  '-1',
  '0',
  '-0',
  '1.5',
  '1e-400',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '18446744073709551616',
  '99999999999999999999999999',
  '1e9',
  '-2147483649',
];
const ODD_VALUES = [
  'null',
  'true',
  '""',
  '"x"',
  '[]',
  '{}',
  '[[]]',
  '"\\ud800"',
  '"\\u0000"',
  '{"type":"Sequence","pretokenizers":[]}',
];

/** Flip 1-8 random bits. */
const flipBits: Mutation = (b, g) => {
  const out = b.slice();
  for (let k = 1 + g.randint(8); k > 0 && out.length; k--)
    out[g.randint(out.length)] ^= 1 << g.randint(8);
  return out;
};

/** Set 1-4 bytes to structural or extreme values. */
const setBytes: Mutation = (b, g) => {
  const out = b.slice();
  for (let k = 1 + g.randint(4); k > 0 && out.length; k--)
    out[g.randint(out.length)] = pick(g, INTERESTING_BYTES);
  return out;
};

const truncate: Mutation = (b, g) => b.slice(0, g.randint(b.length + 1));

const insertBytes: Mutation = (b, g) => {
  const at = g.randint(b.length + 1);
  const junk = Uint8Array.from({ length: 1 + g.randint(16) }, () => g.randint(256));
  return concat(b.subarray(0, at), junk, b.subarray(at));
};

const deleteRange: Mutation = (b, g) => {
  const at = g.randint(b.length + 1);
  const n = 1 + g.randint(Math.min(64, b.length - at + 1));
  return concat(b.subarray(0, at), b.subarray(at + n));
};

const duplicateRange: Mutation = (b, g) => {
  const from = g.randint(b.length + 1);
  const slice = b.subarray(from, from + 1 + g.randint(256));
  const at = g.randint(b.length + 1);
  return concat(b.subarray(0, at), slice, b.subarray(at));
};

const invalidUtf8: Mutation = (b, g) => {
  const at = g.randint(b.length + 1);
  return concat(b.subarray(0, at), Uint8Array.from(pick(g, INVALID_UTF8)), b.subarray(at));
};

/** Positions in `text` where `re` matches (at most 4096, to stay cheap). */
function matches(text: string, re: RegExp): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  for (const m of text.matchAll(re)) {
    out.push(m);
    if (out.length >= 4096) break;
  }
  return out;
}

/**
 * Replace one match of `re` in the text with `make(match)`; unchanged when none. A match's
 * leading `[:[{,]\s*` (the prefix that places a value) is kept, not replaced.
 */
function replaceOne(
  b: Uint8Array,
  g: Generator,
  re: RegExp,
  make: (m: string) => string,
): Uint8Array {
  const text = dec.decode(b);
  const ms = matches(text, re);
  if (!ms.length) return b;
  const m = pick(g, ms);
  const prefix = /^[:[{,]\s*/.exec(m[0])?.[0] ?? '';
  const body = m[0].slice(prefix.length);
  const at = m.index + prefix.length;
  return enc.encode(text.slice(0, at) + make(body) + text.slice(at + body.length));
}

const giantNumber: Mutation = (b, g) =>
  replaceOne(b, g, /-?\d+(\.\d+)?([eE][-+]?\d+)?/g, () => pick(g, ODD_NUMBERS));

/** A value after ':' , '[' or ',' becomes a wrong-typed one. */
const oddValue: Mutation = (b, g) =>
  replaceOne(b, g, /[:[,]\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)/g, () =>
    pick(g, ODD_VALUES),
  );

/** Nest a value 2..200,000 deep (closed or not). */
const deepNest: Mutation = (b, g) => {
  const depth = pick(g, [2, 64, 129, 1000, 5000, 200_000]);
  const open = pick(g, ['[', '{"a":']);
  const close = open === '[' ? ']' : '}';
  const closed = g.uniform() < 0.7;
  return replaceOne(
    b,
    g,
    /[:[,]\s*(-?\d[\d.eE+-]*|"(?:[^"\\]|\\.)*"|true|false|null)/g,
    (v) => open.repeat(depth) + v + (closed ? close.repeat(depth) : ''),
  );
};

/** Repeat one `"key": value-start` so the key appears twice in its object. */
const duplicateKey: Mutation = (b, g) =>
  replaceOne(
    b,
    g,
    /"(?:[^"\\]|\\.)*"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null|\[\])/g,
    (m) => `${m},${m}`,
  );

/** One array element or object member repeated up to 200,000 times (within half of maxBytes). */
const hugeCount: Mutation = (b, g, maxBytes) =>
  replaceOne(
    b,
    g,
    /[[{,]\s*(-?\d[\d.eE+-]*|"(?:[^"\\]|\\.)*"(\s*:\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|null|true|false|\[\]))?)(?=\s*[,\]}])/g,
    (m) => {
      const most = Math.floor(maxBytes / 2 / (m.length + 8));
      const times = Math.min(pick(g, [10, 100, 1000, 10_000, 200_000]), most);
      // Object members get distinct keys (a repeated key is duplicateKey's case); at most
      // 20,000 of them (building more is slow, and objects are bounded far lower).
      const key = /^"((?:[^"\\]|\\.)*)"\s*:/.exec(m);
      if (!key) return `${m},`.repeat(times - 1) + m;
      const value = m.slice(key[0].length);
      const n = Math.min(times, 20_000);
      return Array.from({ length: n }, (_, i) => `"${key[1]}_${i}":${value}`).join(',');
    },
  );

/** Byte-level mutations, for any file. */
export const BYTE_MUTATIONS: readonly Mutation[] = [
  flipBits,
  setBytes,
  truncate,
  insertBytes,
  deleteRange,
  duplicateRange,
  invalidUtf8,
];

/** JSON-level mutations, for a JSON text (applied to its bytes). */
export const JSON_MUTATIONS: readonly Mutation[] = [
  giantNumber,
  oddValue,
  deepNest,
  duplicateKey,
  hugeCount,
];

/** A safetensors file's header text and data section. */
function split(b: Uint8Array): { header: Uint8Array; data: Uint8Array } | null {
  if (b.length < 8) return null;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > b.length) return null;
  return { header: b.subarray(8, 8 + n), data: b.subarray(8 + n) };
}

/** A safetensors file from a header and a data section, with the header's true length. */
function frame(header: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/** The header length field set to an extreme or nearly right value. */
const headerLength: Mutation = (b, g) => {
  const out = b.length >= 8 ? b.slice() : concat(b, new Uint8Array(8 - b.length));
  const dv = new DataView(out.buffer);
  const n = dv.getBigUint64(0, true);
  const values = [
    0n,
    1n,
    n - 1n,
    n + 1n,
    n + 8n,
    2n ** 32n,
    2n ** 63n,
    2n ** 64n - 1n,
    100_000_000n,
    100_000_001n,
    BigInt(out.length),
  ];
  dv.setBigUint64(0, BigInt.asUintN(64, pick(g, values)), true);
  return out;
};

/** A JSON or byte mutation of the header alone, re-framed (the length field made right). */
const headerOnly: Mutation = (b, g, maxBytes) => {
  const parts = split(b);
  if (!parts) return b;
  const m = pick(g, [...JSON_MUTATIONS, ...JSON_MUTATIONS, setBytes, invalidUtf8, flipBits]);
  return frame(m(parts.header, g, maxBytes), parts.data);
};

/** A field of one tensor entry rewritten: dtype, shape or data_offsets. */
const tensorField: Mutation = (b, g) => {
  const parts = split(b);
  if (!parts) return b;
  const choices: [RegExp, string[]][] = [
    [
      /"dtype"\s*:\s*"[^"]*"/g,
      [
        '"dtype":"F16"',
        '"dtype":"I64"',
        '"dtype":"BOOL"',
        '"dtype":"F4"',
        '"dtype":7',
        '"dtype":"f32"',
      ],
    ],
    [
      /"shape"\s*:\s*\[[^\]]*\]/g,
      [
        '"shape":[]',
        '"shape":[0]',
        '"shape":[-1]',
        '"shape":[1e300]',
        '"shape":[4294967296,4294967296]',
        '"shape":[1.5]',
        '"shape":"2"',
        '"shape":[9007199254740993]',
      ],
    ],
    [
      /"data_offsets"\s*:\s*\[[^\]]*\]/g,
      [
        '"data_offsets":[0,0]',
        '"data_offsets":[4,0]',
        '"data_offsets":[0,1e20]',
        '"data_offsets":[-4,0]',
        '"data_offsets":[0]',
        '"data_offsets":[0,4,8]',
        '"data_offsets":null',
      ],
    ],
  ];
  const [re, values] = pick(g, choices);
  return frame(
    replaceOne(parts.header, g, re, () => pick(g, values)),
    parts.data,
  );
};

/** Safetensors-specific mutations (framing and entry fields) on top of the generic ones. */
export const SAFETENSORS_MUTATIONS: readonly Mutation[] = [
  ...BYTE_MUTATIONS,
  headerLength,
  headerOnly,
  headerOnly,
  tensorField,
  tensorField,
];

/** Mutations for a JSON file: text-level ones twice as often as byte-level ones. */
export const JSON_FILE_MUTATIONS: readonly Mutation[] = [
  ...BYTE_MUTATIONS,
  ...JSON_MUTATIONS,
  ...JSON_MUTATIONS,
];

/**
 * Apply 1-3 mutations from `list` to `seed`, each result at most `maxBytes` (a larger one is
 * dropped).
 * @returns the mutated bytes and the mutations' names (for a failure report).
 */
export function mutate(
  seed: Uint8Array,
  list: readonly Mutation[],
  g: Generator,
  maxBytes = MAX_OUTPUT_BYTES,
): { bytes: Uint8Array; applied: string[] } {
  let bytes = seed;
  const applied: string[] = [];
  const chosen = Array.from({ length: 1 + g.randint(3) }, () => pick(g, list));
  // A huge count last: the other mutations then work on the small file (and stay fast).
  chosen.sort((x, y) => Number(x === hugeCount) - Number(y === hugeCount));
  for (const m of chosen) {
    const next = m(bytes, g, maxBytes);
    if (next.length <= maxBytes) bytes = next;
    applied.push(m.name || 'anonymous');
  }
  return { bytes, applied };
}
