// Safetensors reader/writer: round trips, byte-exact layout against a PyTorch-made reference file
// (test/fixtures/io/, written by scripts/make_safetensors_fixture.py) and against the reference
// implementation's own test vectors, refusal of every malformed header, and atomic writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  SafetensorsError,
  dtypeSize,
  fromBool,
  fromFloat32,
  fromInt32,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  toBool,
  toFloat32,
  toInt32,
  writeSafetensors,
  type RawTensor,
  type SafetensorsDType,
} from '../../src/io/safetensors.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/io/', import.meta.url));
const enc = new TextEncoder();

/** A file with the given header text (unpadded) and `dataLen` data bytes (value = index). */
function craft(header: string | object, dataLen = 0, declaredLen?: bigint): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, declaredLen ?? BigInt(json.length), true);
  out.set(json, 8);
  for (let i = 0; i < dataLen; i++) out[8 + json.length + i] = i & 0xff;
  return out;
}

function assertRefused(buf: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(buf),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

function raw(dtype: SafetensorsDType, shape: number[], bytes: number[]): RawTensor {
  return { dtype, shape, data: Uint8Array.from(bytes) };
}

/** JSON value (with "inf"/"-inf"/"nan"/"-0" strings) -> number. */
function num(v: number | string): number {
  return { inf: Infinity, '-inf': -Infinity, nan: NaN, '-0': -0 }[v as string] ?? (v as number);
}

test('round trip of every dtype, scalar and zero-size tensors, and metadata', () => {
  const tensors: Record<string, RawTensor> = {
    w: fromFloat32(Float32Array.from([1.5, -2, 3.25, 0, -0, 7]), [2, 3]),
    h: fromFloat32(Float32Array.from([1, -2.5, 0.5]), [3], 'F16'),
    b: fromFloat32(Float32Array.from([1, -2.5, 0.5, 8]), [2, 2], 'BF16'),
    d: fromFloat32(Float32Array.from([Math.fround(Math.PI)]), [1], 'F64'),
    idx: fromInt32(Int32Array.from([-3, 0, 2 ** 31 - 1]), [3], 'I64'),
    i32: fromInt32(Int32Array.from([-(2 ** 31), 5]), [2, 1]),
    i16: fromInt32(Int32Array.from([-32768, 32767]), [2], 'I16'),
    i8: fromInt32(Int32Array.from([-128, 127]), [2], 'I8'),
    u8: fromInt32(Int32Array.from([0, 255, 9]), [3], 'U8'),
    mask: fromBool([true, false, true, true], [2, 2]),
    scalar: fromFloat32(Float32Array.from([42.5]), []),
    empty: fromFloat32(new Float32Array(0), [0, 4]),
    emptyIds: fromInt32(new Int32Array(0), [3, 0], 'I64'),
  };
  const meta = { format: 'pt', note: 'unicodé "quoted"\n' };
  const bytes = serializeSafetensors(tensors, meta);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');

  const { tensors: back, metadata } = parseSafetensors(bytes);
  assert.deepEqual(metadata, meta);
  assert.deepEqual([...back.keys()].sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const r = back.get(name)!;
    assert.equal(r.dtype, t.dtype, name);
    assert.deepEqual(r.shape, t.shape, name);
    assert.deepEqual([...r.data], [...t.data], name);
    // The reference layout aligns every tensor to its itemsize within the 8-aligned data section.
    assert.equal((r.data.byteOffset - 8 - headerLen) % dtypeSize(r.dtype), 0, `${name} aligned`);
  }
  assert.deepEqual([...toFloat32(back.get('w')!)], [1.5, -2, 3.25, 0, -0, 7]);
  assert.deepEqual([...toFloat32(back.get('h')!)], [1, -2.5, 0.5]);
  assert.deepEqual([...toFloat32(back.get('b')!)], [1, -2.5, 0.5, 8]);
  assert.deepEqual([...toFloat32(back.get('d')!)], [Math.fround(Math.PI)]);
  assert.deepEqual([...toInt32(back.get('idx')!)], [-3, 0, 2 ** 31 - 1]);
  assert.deepEqual([...toInt32(back.get('i32')!)], [-(2 ** 31), 5]);
  assert.deepEqual([...toInt32(back.get('i16')!)], [-32768, 32767]);
  assert.deepEqual([...toInt32(back.get('i8')!)], [-128, 127]);
  assert.deepEqual([...toInt32(back.get('u8')!)], [0, 255, 9]);
  assert.deepEqual([...toBool(back.get('mask')!)], [1, 0, 1, 1]);
  assert.deepEqual([...toFloat32(back.get('scalar')!)], [42.5]);
  assert.equal(toFloat32(back.get('empty')!).length, 0);
  assert.equal(toInt32(back.get('emptyIds')!).length, 0);

  // Without metadata no "__metadata__" key is written; with {} an empty one is.
  const plain = serializeSafetensors({ s: tensors.scalar! });
  assert.ok(!new TextDecoder().decode(plain).includes('__metadata__'));
  assert.deepEqual(parseSafetensors(plain).metadata, {});
  const emptyMeta = new TextDecoder().decode(serializeSafetensors({}, {}));
  assert.match(emptyMeta, /^[^]{8}\{"__metadata__":\{\}\} *$/);
});

test('PyTorch reference file: values, float16/bfloat16 rounding and byte-exact layout', () => {
  const file = readFileSync(join(FIXTURES, 'reference.safetensors'));
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as {
    metadata: Record<string, string>;
    source_f32: (number | string)[];
    tensors: Record<
      string,
      { dtype: SafetensorsDType; shape: number[]; values: (number | string)[] }
    >;
  };
  const { tensors, metadata } = parseSafetensors(file);
  assert.deepEqual(metadata, expected.metadata);
  assert.equal(tensors.size, Object.keys(expected.tensors).length);

  const rebuilt: Record<string, RawTensor> = {};
  for (const [name, e] of Object.entries(expected.tensors)) {
    const t = tensors.get(name);
    assert.ok(t, `missing ${name}`);
    assert.equal(t.dtype, e.dtype, name);
    assert.deepEqual(t.shape, e.shape, name);
    const want = e.values.map(num);
    const isFloat = e.dtype.startsWith('F') || e.dtype === 'BF16';
    const got = isFloat ? [...toFloat32(t)] : [...toInt32(t)];
    // float32 widening is exact for F16/BF16/F32; F64 is compared after rounding to float32.
    assert.deepEqual(got, want.map(isFloat ? Math.fround : (x) => x), name);
    if (e.dtype === 'BOOL') assert.deepEqual([...toBool(t)], want, name);
    rebuilt[name] =
      e.dtype === 'F64'
        ? { dtype: 'F64', shape: e.shape, data: new Uint8Array(Float64Array.from(want).buffer) }
        : e.dtype === 'BF16'
          ? { ...t, data: t.data.slice() } // NaN bits differ by PyTorch code path; see below
          : isFloat
            ? fromFloat32(Float32Array.from(want), e.shape, e.dtype as 'F32' | 'F16')
            : e.dtype === 'BOOL'
              ? fromBool(want, e.shape)
              : fromInt32(Int32Array.from(want), e.shape, e.dtype as 'I64' | 'I32');
  }

  // Our float32 -> float16 / bfloat16 rounding matches PyTorch's on the tricky inputs, bit for
  // bit. The one allowed difference is which NaN: PyTorch's vectorized bfloat16 path writes NaN as
  // 0xffff and its scalar path as 0x7fc0 (ours); F16 NaN is 0x7e00 on both paths.
  const src = Float32Array.from(expected.source_f32.map(num));
  const isNaN16 = (dt: 'F16' | 'BF16', b: number) =>
    dt === 'F16'
      ? (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0
      : (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
  for (const dt of ['F16', 'BF16'] as const) {
    const name = dt === 'F16' ? 'half' : 'bhalf';
    const ours = fromFloat32(src, [4, 5], dt).data;
    const theirs = tensors.get(name)!.data;
    const u16 = (b: Uint8Array, i: number) => b[2 * i]! | (b[2 * i + 1]! << 8);
    let nans = 0;
    for (let i = 0; i < src.length; i++) {
      const [a, b] = [u16(ours, i), u16(theirs, i)];
      if (isNaN16(dt, a) && isNaN16(dt, b)) nans++;
      else assert.equal(a.toString(16), b.toString(16), `${dt} bits of ${src[i]} (index ${i})`);
    }
    assert.equal(nans, 1, `${dt}: exactly the one NaN input is NaN`);
    if (dt === 'F16') assert.deepEqual([...ours], [...theirs], 'F16 bytes');
  }

  // Our writer lays the same tensors out byte-for-byte like the reference writer.
  const ours = serializeSafetensors(rebuilt, expected.metadata);
  assert.equal(Buffer.compare(Buffer.from(ours), file), 0, 'byte-exact with the reference file');
});

test('byte-exact against the reference implementation test vectors (safetensors tensor.rs)', () => {
  const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
  const data = f32([0, 1, 2, 3, 4, 5]);
  const tail = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
  const hdr = (n: number, s: string) => [n, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(s)];

  // test_serialization: a 64-byte header needs no padding.
  const a = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } });
  assert.deepEqual(
    [...a],
    [...hdr(64, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), ...tail],
  );
  // test_serialization_forced_alignement: 65 bytes of JSON padded with 7 spaces to 72.
  const b = serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } });
  assert.deepEqual(
    [...b],
    [
      ...hdr(72, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '),
      ...tail,
    ],
  );
  // test_empty, without and with metadata.
  assert.deepEqual([...serializeSafetensors({})], hdr(8, '{}      '));
  assert.deepEqual(
    [...serializeSafetensors({}, { framework: 'pt' })],
    hdr(40, '{"__metadata__":{"framework":"pt"}}     '),
  );
  assert.equal(parseSafetensors(b).tensors.get('attn0')!.shape.length, 4);
});

test('writer order: descending dtype alignment rank, then UTF-8 bytewise name', () => {
  const one = (dtype: SafetensorsDType): RawTensor => ({
    dtype,
    shape: [1],
    data: new Uint8Array(dtypeSize(dtype)),
  });
  // '\u{1F600}' (UTF-8 F0..) sorts after '\uFFFD' (EF..) bytewise, before it in UTF-16 order.
  const bytes = serializeSafetensors({
    z: one('BOOL'),
    a: one('U8'),
    h: one('F16'),
    b: one('BF16'),
    '\uFFFD': one('F32'),
    '\u{1F600}': one('F32'),
    f: one('F32'),
    i: one('I64'),
    d: one('F64'),
  });
  const order = [...parseSafetensors(bytes).tensors.keys()];
  assert.deepEqual(order, ['i', 'd', 'f', '\uFFFD', '\u{1F600}', 'b', 'h', 'a', 'z']);
});

test('conversions: float16/bfloat16 decoding, unaligned data, int ranges, bool', () => {
  const h = raw(
    'F16',
    [8],
    [0, 0x3c, 0, 0xc0, 0xff, 0x7b, 1, 0, 0, 0x7c, 0, 0x7e, 0, 0x80, 0, 0xfc],
  );
  const hv = [...toFloat32(h)];
  assert.deepEqual(hv.slice(0, 5), [1, -2, 65504, Math.fround(2 ** -24), Infinity]);
  assert.ok(Number.isNaN(hv[5]));
  assert.ok(Object.is(hv[6], -0));
  assert.equal(hv[7], -Infinity);
  assert.deepEqual([...toFloat32(raw('BF16', [2], [0x80, 0x3f, 0x49, 0xc0]))], [1, -3.140625]);
  assert.deepEqual([...toFloat32(raw('F8_E4M3', [3], [0x38, 0x7e, 0x01]))], [1, 448, 2 ** -9]);
  assert.deepEqual([...toFloat32(raw('F8_E5M2', [2], [0x3c, 0x7b]))], [1, 57344]);

  // F32 at an odd byte offset cannot be viewed in place: it is copied.
  const backing = new Uint8Array(9);
  backing.set(new Uint8Array(Float32Array.from([2.5, -1]).buffer), 1);
  const unaligned: RawTensor = { dtype: 'F32', shape: [2], data: backing.subarray(1) };
  assert.deepEqual([...toFloat32(unaligned)], [2.5, -1]);
  assert.deepEqual(
    [
      ...toInt32({
        dtype: 'I32',
        shape: [2],
        data: Uint8Array.from([0, 7, 0, 0, 0, 255, 255, 255, 255]).subarray(1),
      }),
    ],
    [7, -1],
  );
  // Aligned F32 is a zero-copy view.
  const aligned = fromFloat32(Float32Array.from([1, 2]), [2]);
  assert.equal(toFloat32(aligned).buffer, aligned.data.buffer);

  const big = new Uint8Array(new BigInt64Array([5n, 2n ** 31n]).buffer);
  assert.throws(
    () => toInt32({ dtype: 'I64', shape: [2], data: big }),
    /2147483648 at flat index 1/,
  );
  const neg = new Uint8Array(new BigInt64Array([-(2n ** 31n) - 1n]).buffer);
  assert.throws(() => toInt32({ dtype: 'I64', shape: [], data: neg }), /does not fit in int32/);
  assert.deepEqual([...toInt32({ dtype: 'I64', shape: [], data: neg.fill(0xff) })], [-1]);
  assert.throws(() => toInt32(raw('F16', [1], [0, 0x3c])), /cannot convert F16 to int32/);
  assert.throws(() => toBool(raw('F32', [1], [0, 0, 0, 0])), /cannot convert F32 to bool/);
  assert.deepEqual([...toBool(raw('I16', [3], [0, 0, 0, 1, 2, 0]))], [0, 1, 1]);
  assert.deepEqual([...toBool(raw('BOOL', [2], [0, 2]))], [0, 1]);

  assert.throws(() => fromFloat32(new Float32Array(5), [2, 3]), /5 elements but shape \[2,3\]/);
  assert.throws(() => fromInt32(Int32Array.from([128]), [1], 'I8'), /128 .* does not fit I8/);
  assert.throws(() => fromBool([true], [2]), /1 elements but shape \[2\]/);
  assert.throws(
    () => toFloat32(raw('F32', [2], [0, 0, 0, 0])),
    /4 bytes but F32 shape \[2\] needs 8/,
  );
});

test('malformed files are refused with a message naming the problem', () => {
  const ok = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty buffer', new Uint8Array(0), /0 bytes, shorter than the 8-byte/],
    ['7-byte buffer', new Uint8Array(7), /7 bytes, shorter than the 8-byte/],
    [
      'header length 2^63',
      craft('{}', 0, 2n ** 63n),
      /header length 9223372036854775808 is too large/,
    ],
    ['header length 2^64-1', craft('{}', 0, 2n ** 64n - 1n), /too large/],
    ['header length > 100 MB', craft('{}', 0, 100_000_001n), /too large/],
    ['header past the end', craft('{}', 0, 1000n), /header length 1000 is larger than the 2 bytes/],
    ['invalid UTF-8', craft('{"a\xff"}').map((b) => (b === 0xc3 ? 0xff : b)), /not valid UTF-8/],
    ['BOM', craft('\uFEFF{}'), /not valid JSON/],
    ['not JSON', craft('{"a":'), /not valid JSON/],
    ['JSON array', craft('[]'), /must be a JSON object, got an array/],
    ['JSON null', craft('null'), /must be a JSON object, got null/],
    ['entry not object', craft({ a: 3 }), /tensor "a": entry must be an object, got number 3/],
    [
      'missing dtype',
      craft({ a: { shape: [1], data_offsets: [0, 4] } }, 4),
      /tensor "a": missing "dtype"/,
    ],
    [
      'unknown dtype',
      craft({ a: { ...ok, dtype: 'F128' } }, 4),
      /tensor "a": unknown dtype "F128"/,
    ],
    [
      'dtype not string',
      craft({ a: { ...ok, dtype: 4 } }, 4),
      /tensor "a": unknown dtype number 4/,
    ],
    [
      'missing shape',
      craft({ a: { dtype: 'F32', data_offsets: [0, 4] } }, 4),
      /tensor "a": missing "shape"/,
    ],
    ['shape not array', craft({ a: { ...ok, shape: 4 } }, 4), /tensor "a": shape must be an array/],
    [
      'negative dim',
      craft({ a: { ...ok, shape: [-1] } }, 4),
      /shape must be .*non-negative integers, got \[-1\]/,
    ],
    ['fractional dim', craft({ a: { ...ok, shape: [1.5] } }, 4), /shape .* got \[1.5\]/],
    ['string dim', craft({ a: { ...ok, shape: ['1'] } }, 4), /shape .* got \["1"\]/],
    [
      'huge dim',
      craft({ a: { ...ok, shape: [2 ** 60] } }, 4),
      /shape .* got \[1152921504606847000\]/,
    ],
    [
      'missing offsets',
      craft({ a: { dtype: 'F32', shape: [1] } }, 4),
      /tensor "a": missing "data_offsets"/,
    ],
    [
      'one offset',
      craft({ a: { ...ok, data_offsets: [0] } }, 4),
      /tensor "a": data_offsets must be two/,
    ],
    [
      'string offset',
      craft({ a: { ...ok, data_offsets: [0, '4'] } }, 4),
      /data_offsets must be two .* got \[0,"4"\]/,
    ],
    [
      'negative offset',
      craft({ a: { ...ok, data_offsets: [-4, 0] } }, 4),
      /data_offsets must be two non-negative/,
    ],
    [
      'begin > end',
      craft({ a: { ...ok, data_offsets: [4, 0] } }, 4),
      /tensor "a": data_offsets \[4, 0\] have begin > end/,
    ],
    [
      'size mismatch',
      craft({ a: { ...ok, shape: [2] } }, 4),
      /tensor "a": .* span 4 bytes but F32 shape \[2\] needs 8 bytes/,
    ],
    [
      'overflowing numel',
      craft({ a: { ...ok, shape: [2 ** 40, 2 ** 40] } }, 4),
      /needs more than the whole data section/,
    ],
    [
      'offsets outside data',
      craft({ a: ok }, 2),
      /tensor "a": data_offsets \[0, 4\] lie outside the data section of 2 bytes/,
    ],
    [
      'overlap',
      craft(
        { a: { ...ok, data_offsets: [0, 8], shape: [2] }, b: { ...ok, data_offsets: [4, 8] } },
        8,
      ),
      /tensor "b": .*overlap tensor "a"/,
    ],
    [
      'hole between',
      craft({ a: ok, b: { ...ok, data_offsets: [8, 12] } }, 12),
      /tensor "b": hole .* \[4, 8\)/,
    ],
    [
      'hole at start',
      craft({ a: { ...ok, data_offsets: [4, 8] } }, 8),
      /tensor "a": hole .* \[0, 4\)/,
    ],
    ['trailing bytes', craft({ a: ok }, 6), /2 trailing bytes belong to no tensor/],
    [
      'metadata not object',
      craft({ __metadata__: 'x' }),
      /__metadata__ must be an object of string -> string, got the string "x"/,
    ],
    ['metadata value', craft({ __metadata__: { n: 1 } }), /__metadata__ .* key "n" holds number 1/],
    [
      'lone surrogate name',
      craft('{"\\ud800":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
      /lone surrogate/,
    ],
  ];
  for (const [what, buf, pattern] of cases) {
    assert.throws(
      () => parseSafetensors(buf),
      (e: unknown) => {
        assert.ok(e instanceof SafetensorsError, `${what}: got ${String(e)}`);
        assert.match(e.message, pattern, what);
        return true;
      },
      what,
    );
  }
  // Accepted: space padding, fields in any order, unknown fields, null metadata.
  const padded = craft('{"a":{"data_offsets":[0,1],"x":1,"shape":[],"dtype":"U8"}}   ', 1);
  assert.equal(parseSafetensors(padded).tensors.get('a')!.data[0], 0);
  assert.deepEqual(parseSafetensors(craft('{"__metadata__":null}')).metadata, {});
});

test('never reads past the view it is given, and fails only with SafetensorsError', () => {
  const good = serializeSafetensors(
    { a: fromFloat32(Float32Array.from([1, 2, 3]), [3]), m: fromBool([true], [1]) },
    { k: 'v' },
  );
  // The good file sits inside a larger ArrayBuffer; truncated views must not see the rest.
  const backing = new Uint8Array(good.length + 64);
  backing.set(good, 16);
  assert.equal(parseSafetensors(backing.subarray(16, 16 + good.length)).tensors.size, 2);
  for (let len = 0; len < good.length; len++) {
    assertRefused(backing.subarray(16, 16 + len), /./);
  }
  // Deterministic single-byte corruptions: every outcome is a parse or a SafetensorsError.
  let seed = 12345;
  for (let trial = 0; trial < 2000; trial++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const copy = good.slice();
    copy[seed % copy.length] = (seed >>> 8) & 0xff;
    try {
      const { tensors } = parseSafetensors(copy);
      for (const t of tensors.values()) {
        assert.ok(t.data.byteOffset + t.data.byteLength <= copy.byteLength);
      }
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, `trial ${trial}: ${String(e)}`);
    }
  }
});

test('serializer validates shapes, byte lengths, names and metadata', () => {
  const t = fromFloat32(Float32Array.from([1, 2]), [2]);
  assert.throws(
    () => serializeSafetensors({ w: { ...t, shape: [3] } }),
    /tensor "w": data is 8 bytes but F32 shape \[3\] needs 12/,
  );
  assert.throws(
    () => serializeSafetensors({ w: { ...t, shape: [-2] } }),
    /tensor "w": shape must be/,
  );
  assert.throws(
    () => serializeSafetensors({ w: { ...t, dtype: 'Q4' as SafetensorsDType } }),
    /tensor "w": unknown dtype "Q4"/,
  );
  assert.throws(() => serializeSafetensors({ __metadata__: t }), /"__metadata__" is reserved/);
  assert.throws(
    () => serializeSafetensors({ w: t }, { n: 3 as unknown as string }),
    /__metadata__ .* key "n" holds number 3/,
  );
  assert.throws(() => serializeSafetensors(new Map([['\udc00', t]])), /lone surrogate/);
});

test('writeSafetensors is atomic: a failed write leaves the old file and no temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
  try {
    const path = join(dir, 'model.safetensors');
    const v1 = { w: fromFloat32(Float32Array.from([1, 2, 3]), [3]) };
    writeSafetensors(path, v1, { step: '1' });
    const before = readFileSync(path);
    assert.deepEqual([...toFloat32(readSafetensors(path).tensors.get('w')!)], [1, 2, 3]);

    // Serialization throws: the old file is untouched.
    const bad = { w: { ...v1.w, shape: [4] } };
    assert.throws(() => writeSafetensors(path, bad), SafetensorsError);
    assert.equal(Buffer.compare(readFileSync(path), before), 0);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);

    // The rename fails (the target is a non-empty directory): the temp file is removed.
    const blocked = join(dir, 'blocked');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'keep'), 'x');
    assert.throws(() => writeSafetensors(blocked, v1), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'model.safetensors']);

    // A successful overwrite replaces the content.
    writeSafetensors(path, { w: fromFloat32(Float32Array.from([9]), [1]) });
    const after = readSafetensors(path);
    assert.deepEqual([...toFloat32(after.tensors.get('w')!)], [9]);
    assert.deepEqual(after.metadata, {});
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'model.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
