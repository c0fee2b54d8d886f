/** Whether this runs in a web page (where anything in the bundle is public). */
export const isBrowser = (): boolean => typeof window !== 'undefined' && typeof document !== 'undefined';

type NodeProcess = {
  env?: Record<string, string | undefined>;
  once?: (event: string, listener: () => void) => unknown;
  on?: (event: string, listener: () => void) => unknown;
  prependListener?: (event: string, listener: () => void) => unknown;
  removeListener?: (event: string, listener: () => void) => unknown;
  listenerCount?: (event: string) => number;
  kill?: (pid: number, signal: string) => unknown;
  pid?: number;
};

/** Node's `process`, looked up at run time so bundlers for the browser do not pull a shim in. */
export const nodeProcess = (): NodeProcess | undefined => {
  const candidate = (globalThis as { process?: NodeProcess }).process;
  return candidate && typeof candidate.once === 'function' ? candidate : undefined;
};

const warned = new Set<string>();

/** console.warn, once per key for the life of the page or process. */
export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(`[@staryer/usage-sdk] ${message}`);
}
