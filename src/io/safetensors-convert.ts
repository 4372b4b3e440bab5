/**
 * Element conversions between safetensors' raw little-endian bytes and float32 / int32 / bool
 * arrays: F16, BF16 (round to nearest even, as torch), F8, F64 and the integer dtypes.
 * Split from safetensors.ts, which re-exports these functions.
 */
import {
  ITEMSIZE,
  LITTLE_ENDIAN_HOST,
  SafetensorsError,
  checkTensor,
  checkedNumel,
  shapeError,
  type RawTensor,
} from './safetensors.js';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits -> number (exact). */
function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (0x400 + mant) * 2 ** (exp - 25);
}

/** OCP FP8 E4M3 ("FN": no infinities, NaN = S.1111.111) bits -> number (exact). */
function f8e4m3ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const mant = b & 0x7;
  if (exp === 0xf && mant === 0x7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (8 + mant) * 2 ** (exp - 10);
}

/**
 * Elements of an I32, 1- or 2-byte integer (or BOOL) tensor into `out`: exact in int32 (and in
 * float32, but for I32 values beyond 2^24, which round to nearest).
 */
function readInts(
  dtype: 'I32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL',
  dv: DataView,
  b: Uint8Array,
  out: Float32Array | Int32Array,
): void {
  const n = out.length;
  if (dtype === 'I32') for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
  else if (dtype === 'I16') for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true);
  else if (dtype === 'U16') for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
  else if (dtype === 'I8') for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
  else for (let i = 0; i < n; i++) out[i] = b[i]!;
}

/**
 * number -> IEEE binary16 bits, rounding the float32 value to nearest even like PyTorch's
 * `Tensor.half()`; overflow gives +-inf, NaN gives the canonical sign|0x7e00.
 */
function numberToF16(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal (2^-25): rounds to +-0
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is correct
  return sign | h;
}

/** number -> bfloat16 bits, float32 rounded to nearest even like PyTorch; NaN gives 0x7fc0. */
function numberToBF16(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  if (Number.isNaN(f32Scratch[0])) return 0x7fc0;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

function dataView(t: RawTensor): DataView {
  return new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * The n elements of `t.data` as a zero-copy `View` (aliasing it) when `t` holds `dtype`, the host
 * is little-endian and the data 4-byte aligned; otherwise null (the caller converts).
 */
function zeroCopyView<A>(
  t: RawTensor,
  n: number,
  dtype: 'F32' | 'I32',
  View: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => A,
): A | null {
  if (t.dtype !== dtype || !LITTLE_ENDIAN_HOST || t.data.byteOffset % 4 !== 0) return null;
  return new View(t.data.buffer, t.data.byteOffset, n);
}

/**
 * Values of a tensor as float32 (row-major, numel elements).
 *
 * F32 data that is 4-byte aligned (on a little-endian host) is returned as a zero-copy view that
 * aliases `t.data`; everything else is converted into a fresh array. F16/BF16/F8 widen exactly;
 * F64 and 64-bit integers round to nearest float32.
 * @throws SafetensorsError when `t` is inconsistent (dtype, shape, byte length).
 * Source: safetensors format spec (dtypes are IEEE/bfloat16/OCP FP8 little-endian).
 */
export function toFloat32(t: RawTensor): Float32Array {
  const n = checkTensor(t);
  const view = zeroCopyView(t, n, 'F32', Float32Array);
  if (view) return view;
  const [out, dv, b] = [new Float32Array(n), dataView(t), t.data];
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToNumber(dv.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) {
        u32Scratch[0] = dv.getUint16(2 * i, true) << 16;
        out[i] = f32Scratch[0]!;
      }
      break;
    case 'F8_E5M2':
      for (let i = 0; i < n; i++) out[i] = f16ToNumber(b[i]! << 8);
      break;
    case 'F8_E4M3':
      for (let i = 0; i < n; i++) out[i] = f8e4m3ToNumber(b[i]!);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      break;
    case 'U64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(8 * i, true));
      break;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, true);
      break;
    default: // I32, I16, U16, I8, U8, BOOL
      readInts(t.dtype, dv, b, out);
  }
  return out;
}

/**
 * Values of an integer or BOOL tensor as int32 (row-major, numel elements).
 *
 * I32 data that is 4-byte aligned (little-endian host) is returned as a zero-copy view aliasing
 * `t.data`; other dtypes are converted into a fresh array.
 * @throws SafetensorsError for float dtypes, for I64/U64/U32 values outside [-2^31, 2^31 - 1]
 *   (naming the flat index), and when `t` is inconsistent.
 * Source: safetensors format spec.
 */
export function toInt32(t: RawTensor): Int32Array {
  const n = checkTensor(t);
  const view = zeroCopyView(t, n, 'I32', Int32Array);
  if (view) return view;
  const [out, dv, b] = [new Int32Array(n), dataView(t), t.data];
  const outOfRange = (i: number, v: bigint | number): never => {
    throw new SafetensorsError(
      `${t.dtype} value ${v} at flat index ${i} does not fit in int32 [-2147483648, 2147483647]`,
    );
  };
  switch (t.dtype) {
    case 'I64':
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) outOfRange(i, v);
        out[i] = Number(v);
      }
      break;
    case 'U64':
      for (let i = 0; i < n; i++) {
        const v = dv.getBigUint64(8 * i, true);
        if (v > 2147483647n) outOfRange(i, v);
        out[i] = Number(v);
      }
      break;
    case 'U32':
      for (let i = 0; i < n; i++) {
        const v = dv.getUint32(4 * i, true);
        if (v > 2147483647) outOfRange(i, v);
        out[i] = v;
      }
      break;
    case 'I32':
    case 'I16':
    case 'U16':
    case 'I8':
    case 'U8':
    case 'BOOL':
      readInts(t.dtype, dv, b, out);
      break;
    default:
      throw new SafetensorsError(`cannot convert ${t.dtype} to int32 (integer or BOOL expected)`);
  }
  return out;
}

/**
 * Values of a BOOL or integer tensor as a fresh Uint8Array of 0/1 (any non-zero value is 1).
 * @throws SafetensorsError for float dtypes and when `t` is inconsistent.
 * Source: safetensors format spec (BOOL is one byte per element).
 */
export function toBool(t: RawTensor): Uint8Array {
  const n = checkTensor(t);
  if (t.dtype.startsWith('F') || t.dtype === 'BF16') {
    throw new SafetensorsError(`cannot convert ${t.dtype} to bool (BOOL or integer expected)`);
  }
  const size = ITEMSIZE[t.dtype];
  const out = new Uint8Array(n);
  const b = t.data;
  for (let i = 0; i < n; i++) {
    let nz = 0;
    for (let k = 0; k < size; k++) nz |= b[i * size + k]!;
    out[i] = nz ? 1 : 0;
  }
  return out;
}

function checkShapeFor(shape: number[], length: number, what: string): number[] {
  const n = checkedNumel(shape, Number.MAX_SAFE_INTEGER);
  if (typeof n !== 'number') throw new SafetensorsError(shapeError(shape));
  if (n !== length) {
    throw new SafetensorsError(
      `${what} has ${length} elements but shape ${JSON.stringify(shape)} needs ${n}`,
    );
  }
  return shape.slice();
}

/** Writes element i (value x) of a tensor being encoded into its bytes. */
type PutElement = (dv: DataView, i: number, x: number) => void;

/**
 * Encode `data` as a tensor of `dtype` and `shape`: a zero-copy byte view of `data` when `dtype`
 * is its own (`native`) and the host little-endian, else fresh bytes written by `put`.
 * @throws SafetensorsError when the shape does not match data.length (naming `what`), and
 *   whatever `put` throws.
 */
function encode(
  data: Float32Array | Int32Array,
  shape: number[],
  dtype: keyof typeof ITEMSIZE,
  native: 'F32' | 'I32',
  what: string,
  put: PutElement,
): RawTensor {
  const s = checkShapeFor(shape, data.length, what);
  if (dtype === native && LITTLE_ENDIAN_HOST) {
    return { dtype, shape: s, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  const out = new Uint8Array(data.length * ITEMSIZE[dtype]);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) put(dv, i, data[i]!);
  return { dtype, shape: s, data: out };
}

/**
 * Build a float tensor from float32 values.
 * @param data (numel) float32, row-major.
 * @param shape the tensor shape; product(shape) must equal data.length.
 * @param dtype 'F32' (default: a zero-copy view of `data` on little-endian hosts), or 'F16' /
 *   'BF16' (rounded to nearest even, as PyTorch's `.half()` / `.bfloat16()`), or 'F64' (exact).
 * @throws SafetensorsError when the shape does not match data.length.
 * Source: safetensors format spec.
 */
export function fromFloat32(
  data: Float32Array,
  shape: number[],
  dtype: 'F32' | 'F16' | 'BF16' | 'F64' = 'F32',
): RawTensor {
  const put: Record<typeof dtype, PutElement> = {
    F32: (dv, i, x) => dv.setFloat32(4 * i, x, true),
    F64: (dv, i, x) => dv.setFloat64(8 * i, x, true),
    F16: (dv, i, x) => dv.setUint16(2 * i, numberToF16(x), true),
    BF16: (dv, i, x) => dv.setUint16(2 * i, numberToBF16(x), true),
  };
  return encode(data, shape, dtype, 'F32', 'Float32Array', put[dtype]);
}

/**
 * Build an integer tensor from int32 values.
 * @param data (numel) int32, row-major.
 * @param shape the tensor shape; product(shape) must equal data.length.
 * @param dtype 'I32' (default: a zero-copy view on little-endian hosts), 'I64' (sign-extended,
 *   what PyTorch uses for indices), or 'I16' / 'I8' / 'U8' (range-checked).
 * @throws SafetensorsError when the shape does not match or a value does not fit `dtype`.
 * Source: safetensors format spec.
 */
export function fromInt32(
  data: Int32Array,
  shape: number[],
  dtype: 'I32' | 'I64' | 'I16' | 'I8' | 'U8' = 'I32',
): RawTensor {
  const [lo, hi] = {
    I32: [-(2 ** 31), 2 ** 31 - 1],
    I64: [-(2 ** 31), 2 ** 31 - 1],
    I16: [-32768, 32767],
    I8: [-128, 127],
    U8: [0, 255],
  }[dtype];
  const put: Record<typeof dtype, PutElement> = {
    I32: (dv, i, x) => dv.setInt32(4 * i, x, true),
    I64: (dv, i, x) => dv.setBigInt64(8 * i, BigInt(x), true),
    I16: (dv, i, x) => dv.setInt16(2 * i, x, true),
    I8: (dv, i, x) => dv.setInt8(i, x),
    U8: (dv, i, x) => dv.setUint8(i, x),
  };
  return encode(data, shape, dtype, 'I32', 'Int32Array', (dv, i, x) => {
    if (x < lo! || x > hi!) {
      throw new SafetensorsError(`value ${x} at flat index ${i} does not fit ${dtype}`);
    }
    put[dtype](dv, i, x);
  });
}

/**
 * Build a BOOL tensor (one byte per element, 0 or 1; any truthy/non-zero input becomes 1).
 * @param data (numel) booleans or bytes, row-major; always copied.
 * @param shape the tensor shape; product(shape) must equal data.length.
 * @throws SafetensorsError when the shape does not match data.length.
 * Source: safetensors format spec.
 */
export function fromBool(data: ArrayLike<boolean | number>, shape: number[]): RawTensor {
  const s = checkShapeFor(shape, data.length, 'bool data');
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] ? 1 : 0;
  return { dtype: 'BOOL', shape: s, data: out };
}
