// Weights moved into one arena on 2 MB pages (native alloc_huge_pages). Decoding streams every
// weight once per token; on 4 KB pages one thread read DRAM at 16-18 GB/s on this VM, on 2 MB
// pages at 25-27 GB/s, and JS-allocated buffers never get huge pages here (THP mode "madvise").
// packTensors copies every Tensor reachable through plain objects and arrays into the arena (a
// tensor reached twice, like a shared slot or a tied head, is copied once) and returns the same
// structure over the copies, sharing kept; everything else is kept as is.
import { native } from './kernels.js';
import { Tensor, type Storage } from './tensor.js';

/** Below this many bytes of tensors an arena is not worth a 2 MB-rounded mapping. */
const MIN_ARENA_BYTES = 8 << 20;
/** The native allocator's limit per buffer (N-API's external ArrayBuffers stop at 4 GiB). */
export const MAX_ARENA_BYTES = 2 ** 32;
const ALIGN = 64;

function isPlain(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function collect(x: unknown, out: Set<Tensor>): void {
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collect(v, out);
  else if (isPlain(x)) for (const v of Object.values(x)) collect(v, out);
}

/** x over the moved tensors; an object or array reached twice is rebuilt once (sharing kept). */
function rebuild<T>(x: T, moved: Map<object, object>): T {
  if (x === null || typeof x !== 'object') return x;
  if (moved.has(x)) return moved.get(x) as T;
  let out: unknown = x;
  if (Array.isArray(x)) out = x.map((v) => rebuild(v, moved));
  else if (isPlain(x)) out = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, rebuild(v, moved)]));
  moved.set(x, out as object);
  return out as T;
}

/** Whether to use huge-page arenas at all: the addon is there and RRT_HUGE_PAGES is not 0. */
function enabled(): boolean {
  return native !== null && process.env.RRT_HUGE_PAGES !== '0';
}

function viewLike(data: Storage, buffer: ArrayBuffer, offset: number): Storage {
  if (data instanceof Float32Array) return new Float32Array(buffer, offset, data.length);
  if (data instanceof Int32Array) return new Int32Array(buffer, offset, data.length);
  if (data instanceof Uint8Array) return new Uint8Array(buffer, offset, data.length);
  return new Uint16Array(buffer, offset, data.length);
}

/**
 * `weights` with every tensor copied into huge-page arenas of at most `maxArenaBytes` each (in
 * order; a tensor larger than that stays where it is), or `weights` itself when the addon is
 * missing, RRT_HUGE_PAGES=0, or the tensors total under 8 MB. Same values, shapes, dtypes,
 * names and requiresGrad; an arena lives as long as any of its copies.
 */
export function packTensors<T>(weights: T, maxArenaBytes = MAX_ARENA_BYTES): T {
  if (!enabled()) return weights;
  const tensors = new Set<Tensor>();
  collect(weights, tensors);
  const arenas: { at: Map<Tensor, number>; bytes: number }[] = [];
  let cur = { at: new Map<Tensor, number>(), bytes: 0 }, total = 0;
  for (const t of tensors) {
    const n = t.data.byteLength;
    if (n > maxArenaBytes) continue;
    let at = Math.ceil(cur.bytes / ALIGN) * ALIGN;
    if (at + n > maxArenaBytes) {
      arenas.push(cur);
      cur = { at: new Map(), bytes: 0 };
      at = 0;
    }
    cur.at.set(t, at);
    cur.bytes = at + n;
    total += n;
  }
  arenas.push(cur);
  if (total < MIN_ARENA_BYTES) return weights;
  const moved = new Map<object, object>();
  for (const { at, bytes } of arenas) {
    if (bytes === 0) continue;
    const arena = native!.alloc_huge_pages(bytes);
    for (const [t, offset] of at) {
      const data = viewLike(t.data, arena, offset);
      data.set(t.data as never);
      const copy = new Tensor(data, t.shape, t.dtype);
      copy.requiresGrad = t.requiresGrad;
      if (t.name !== undefined) copy.name = t.name;
      moved.set(t, copy);
    }
  }
  return rebuild(weights, moved);
}

/** A zeroed Float32Array of n elements, on 2 MB pages when it is large (8 MB to 4 GiB) and allowed (as packTensors). */
export function hugeF32(n: number): Float32Array {
  if (!enabled() || n * 4 < MIN_ARENA_BYTES || n * 4 > MAX_ARENA_BYTES) return new Float32Array(n);
  return new Float32Array(native!.alloc_huge_pages(n * 4));
}
