import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export function log(message: string): void {
  process.stderr.write(`[fledge-harness] ${message}\n`);
}

// Runs the real command in the background of a bash that stays its process-group leader, and
// kills the whole group once our end of its stdin pipe closes. That pipe closes when this Node
// process dies in any way, SIGKILL included, so no etcd or kube-apiserver outlives its owner.
const GUARD = `exec 3<&0 0</dev/null
( while read -r -u 3 _; do :; done; kill -KILL -- -$$ ) &
guard=$!
exec 3<&-
"$@" &
child=$!
# The group's SIGTERM reaches the child too; this bash outlives it to reap it, so no orphan
# zombie keeps the group alive.
trap : TERM INT HUP
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
kill "$guard" 2>/dev/null
wait "$guard"
exit "$status"`;

// Removes a directory once our end of its stdin pipe closes: the temp dir of a run whose Node
// process was killed before it could clean up.
const DIR_REAPER = `while read -r _; do :; done; sleep 1; rm -rf -- "$1"`;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

export function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** A long-running child in its own process group, logging to a file. */
export class Component {
  readonly name: string;
  readonly logPath: string;
  private readonly command: string;
  private readonly args: string[];
  private child: ChildProcess | undefined;
  private stopping = false;
  private exitInfo: string | undefined;

  constructor(name: string, command: string, args: string[], logPath: string) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.logPath = logPath;
  }

  start(): void {
    const fd = openSync(this.logPath, "a");
    this.stopping = false;
    this.exitInfo = undefined;
    const child = spawn("bash", ["-c", GUARD, `fledge-${this.name}`, this.command, ...this.args], {
      detached: true,
      stdio: ["pipe", fd, fd],
    });
    closeSync(fd);
    this.child = child;
    child.on("exit", (code, signal) => {
      this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (!this.stopping) {
        log(`${this.name} died unexpectedly (${this.exitInfo}); last lines of ${this.logPath}:`);
        process.stderr.write(`${tail(this.logPath)}\n`);
      }
    });
    // Neither the child nor the guard pipe may keep the event loop, or a test run would hang.
    child.unref();
    (child.stdin as unknown as { unref(): void }).unref();
  }

  /** Throws with the log's tail when the component has exited; for readiness loops. */
  assertRunning(): void {
    if (this.exitInfo !== undefined) {
      throw new Error(
        `${this.name} ${this.exitInfo}; last lines of ${this.logPath}:\n${tail(this.logPath)}`,
      );
    }
  }

  async stop(graceMs = 5000): Promise<void> {
    const pgid = this.child?.pid;
    if (pgid === undefined) return;
    this.stopping = true;
    killGroup(pgid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (groupAlive(pgid)) {
      if (Date.now() > deadline) killGroup(pgid, "SIGKILL");
      await sleep(20);
    }
    this.child = undefined;
  }

  killSync(): void {
    const pgid = this.child?.pid;
    if (pgid === undefined) return;
    this.stopping = true;
    killGroup(pgid, "SIGKILL");
    this.child = undefined;
  }
}

/** Removes `dir` even if this process is SIGKILLed; `release` removes it now. */
export function guardDir(dir: string): { release(): void } {
  const reaper = spawn("bash", ["-c", DIR_REAPER, "fledge-reaper", dir], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  reaper.unref();
  (reaper.stdin as unknown as { unref(): void }).unref();
  return {
    release() {
      rmSync(dir, { recursive: true, force: true });
      if (reaper.pid !== undefined) killGroup(reaper.pid, "SIGKILL");
    },
  };
}

type Cleanup = { sync(): void; async(): Promise<void> };
const live = new Set<Cleanup>();
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function onExit(): void {
  for (const cleanup of live) cleanup.sync();
  live.clear();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  log(`${signal}: stopping the control plane`);
  await Promise.allSettled([...live].map((cleanup) => cleanup.async()));
  onExit();
  // Our listener suppressed the default action; restore it unless someone else handles it.
  uninstall();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  process.on("exit", onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  process.off("exit", onExit);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

/**
 * Runs `cleanup` when the process exits or gets a termination signal, until the returned
 * function is called (by a normal stop).
 */
export function onTermination(cleanup: Cleanup): () => void {
  if (live.size === 0) install();
  live.add(cleanup);
  return () => {
    live.delete(cleanup);
    if (live.size === 0) uninstall();
  };
}
