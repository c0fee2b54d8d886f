import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * postgres.js keeps its pool's connections in queues (open, busy, …). Taking an idle
 * connection shift()s it out of `open` but leaves its slot behind, and the pool then
 * remove()s it from `open` again (not found: a scan of every slot) before pushing it back.
 * Unless every connection is busy at once, `open` never empties, so in 3.4.9 each query
 * left one more slot to scan: per-query time and memory grew for as long as the server
 * ran (measured: +40 % per query after 120,000 queries). patches/postgres+3.4.9.patch
 * drops used slots; this replays the pool's pattern on the queue it ships.
 */
type Queue<T> = { readonly length: number; push(x: T): T; shift(): T | undefined; remove(x: T): T | null };

async function loadQueue(): Promise<<T>(initial?: T[]) => Queue<T>> {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('postgres')); // cjs/src
  const esm = path.join(dir, '..', '..', 'src', 'queue.js');
  return ((await import(pathToFileURL(esm).href)) as { default: <T>(initial?: T[]) => Queue<T> }).default;
}

/** The largest array Array.prototype.indexOf was asked to search while fn ran. */
function largestSearch(fn: () => void): number {
  const original = Array.prototype.indexOf;
  let largest = 0;
  Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof original>) {
    largest = Math.max(largest, this.length);
    return original.apply(this, args);
  };
  try {
    fn();
  } finally {
    Array.prototype.indexOf = original;
  }
  return largest;
}

describe('the connection pool queue of postgres.js', () => {
  const restore = Array.prototype.indexOf;
  afterEach(() => {
    Array.prototype.indexOf = restore;
  });

  it('does not grow while connections are taken and given back one at a time', async () => {
    const Queue = await loadQueue();
    const connections = Array.from({ length: 10 }, (_, i) => ({ id: i }));
    const open = Queue(connections);
    const busy = Queue<{ id: number }>();
    const order: number[] = [];
    const searched = largestSearch(() => {
      for (let i = 0; i < 50_000; i++) {
        // handler → go(open.shift()) → move(c, busy): c.queue is still `open`.
        const c = open.shift()!;
        open.remove(c);
        busy.push(c);
        if (i < 20) order.push(c.id);
        // The query is done → move(c, open).
        expect(busy.remove(c)).toBe(c);
        open.push(c);
      }
    });
    expect(searched).toBeLessThan(100);
    expect(open.length).toBe(10);
    expect(busy.length).toBe(0);
    // Still first in, first out: the ten connections take turns.
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('still removes from the middle and shifts in order after its slots were dropped', async () => {
    const Queue = await loadQueue();
    const q = Queue<number>();
    for (let i = 0; i < 100; i++) q.push(i);
    for (let i = 0; i < 60; i++) expect(q.shift()).toBe(i);
    expect(q.remove(70)).toBe(70);
    expect(q.remove(10)).toBeNull(); // already taken
    expect(q.length).toBe(39);
    const rest: number[] = [];
    while (q.length > 0) rest.push(q.shift()!);
    expect(rest).toEqual([...Array.from({ length: 10 }, (_, i) => 60 + i), ...Array.from({ length: 29 }, (_, i) => 71 + i)]);
  });
});
