import net from 'node:net';

/** What a relay does with bytes on their way: `forward()` passes them on (now or later); not calling it drops them. */
type Pass = (data: Buffer, forward: () => void) => void;
const passOn: Pass = (_data, forward) => forward();

/**
 * A TCP relay in front of a Postgres URL (tests put faults between the server and its
 * database): every client connection gets its own upstream connection, and each direction's
 * bytes go through `toUpstream` / `toClient`. Answers the URL to connect through instead.
 * `cut()` drops every connection and refuses new ones until `restore()` (a database restart,
 * a failover, a network blip).
 */
export async function startTcpRelay(target: string, options: { toUpstream?: Pass; toClient?: Pass } = {}) {
  const { toUpstream = passOn, toClient = passOn } = options;
  const parsed = new URL(target);
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let down = false;
  const relay = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(parsed.port), parsed.hostname);
    sockets.add(client).add(upstream);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('data', (data) => toUpstream(data, () => upstream.write(data)));
    upstream.on('data', (data) => toClient(data, () => client.write(data)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((relay.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    /** The client connections open now. */
    clients,
    cut: () => {
      down = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore: () => {
      down = false;
    },
    close: async () => {
      down = true;
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

/** A relay in front of `target` that can go silent (hold everything both ways, as a hung database or a dropped network does) and resume. */
export async function startSilentRelay(target: string) {
  let silent = false;
  const held: Array<() => void> = [];
  const pass = (_data: Buffer, forward: () => void) => (silent ? held.push(forward) : forward());
  const relay = await startTcpRelay(target, { toUpstream: pass, toClient: pass });
  return {
    url: relay.url,
    silence: () => void (silent = true),
    resume: () => {
      silent = false;
      for (const f of held.splice(0)) f();
    },
    close: relay.close,
  };
}
