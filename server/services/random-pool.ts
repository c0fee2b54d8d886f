import { randomFillSync } from 'node:crypto';

/**
 * Random bytes drawn from the operating system 16 KiB at a time rather than per call: one
 * getrandom per request (CSP nonces) or per event id (UUIDv7) showed in the server's
 * profiles. Each call gets bytes no other call gets. The bytes are a view into the pool:
 * use them at once (the pool is refilled in place once it runs out).
 */
const pool = Buffer.alloc(16 * 1024);
let offset = pool.length;

export function pooledRandomBytes(n: number): Buffer {
  if (n > pool.length) throw new RangeError(`at most ${pool.length} pooled random bytes at a time`);
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += n;
  return pool.subarray(offset - n, offset);
}
