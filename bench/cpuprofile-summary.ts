import fs from 'node:fs';
import path from 'node:path';

/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF=dir with
 * bench/ingest.ts): self time by package/area and by function, and inclusive time of the
 * functions that matter, optionally only over the last N seconds of the profile (the
 * measured run rather than start-up).
 *
 *   npx tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--last SECONDS | --from S --to S] [--top N] [--timeline]
 *
 * `--timeline` prints the busy share of each second first, to find a run's window.
 */
type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

const args = process.argv.slice(2);
const file = args[0];
if (!file) {
  console.error('usage: tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--last SECONDS] [--top N]');
  process.exit(2);
}
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const last = option('--last');
const fromOption = option('--from');
const toOption = option('--to');
const top = option('--top') ?? 25;

const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample times (µs from the start) and the window to keep.
const times: number[] = [];
let t = 0;
for (const d of profile.timeDeltas) times.push((t += d));
const end = times.at(-1) ?? 0;
const from = last !== undefined ? end - last * 1e6 : (fromOption ?? 0) * 1e6;
const to = last === undefined && toOption !== undefined ? toOption * 1e6 : Infinity;

if (args.includes('--timeline')) {
  const busyPerSecond: number[] = [];
  profile.samples.forEach((id, i) => {
    if (byId.get(id)!.callFrame.functionName === '(idle)') return;
    const second = Math.floor(times[i]! / 1e6);
    busyPerSecond[second] = (busyPerSecond[second] ?? 0) + (profile.timeDeltas[i + 1] ?? 0);
  });
  console.log('busy share per second from the start:');
  console.log([...busyPerSecond].map((v, s) => `${s}:${Math.round((v ?? 0) / 1e4)}%`).join(' '));
}

const area = (url: string, fn: string): string => {
  if (!url) return fn.startsWith('(') ? fn : '(native / V8 builtins)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const root = process.cwd() + '/';
  const local = url.replace(/^file:\/\//, '').replace(root, '');
  return local.split('/').slice(0, 2).join('/');
};
const label = (n: Node) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${path.basename(url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
};

const self = new Map<string, number>();
const selfArea = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  if (times[i]! < from || times[i]! >= to) return;
  const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
  const node = byId.get(id)!;
  total += dt;
  if (node.callFrame.functionName === '(idle)') {
    idle += dt;
    return;
  }
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  const a = area(node.callFrame.url, node.callFrame.functionName);
  selfArea.set(a, (selfArea.get(a) ?? 0) + dt);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  }
});

const busy = total - idle;
const pct = (v: number) => `${((100 * v) / busy).toFixed(1)} %`;
const print = (title: string, map: Map<string, number>, n: number) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${pct(v).padStart(7)}  ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled${last !== undefined ? ` (last ${last} s)` : from > 0 || to < Infinity ? ` (${from / 1e6}–${to / 1e6} s)` : ''}, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)} %); shares below are of busy time`);
print('self time by area', selfArea, top);
print('self time by function', self, top);
print('inclusive time by function', inclusive, top * 2);
