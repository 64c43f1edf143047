// The container side of init: it reads its configuration (waiting, from step 03, until the engine has put it into
// its cgroup), then, once the namespaces, root and mounts are set up, becomes the user's command with execve():
// the command keeps PID 1, the namespaces, the root and the cgroup.
import fs from 'node:fs'
import path from 'node:path'
import { EXIT } from '../errors.ts'
import { closeOnExecFrom, execve, keepOpenAcrossExec, restoreDefaultSignals } from '../libc.ts'
import { signalsIn } from '../signals.ts'
import { CONFIG_FD, PAUSED, RESUME, SYNC_FD, type InitConfig } from './protocol.ts'

export interface Received {
  config: InitConfig
  /** The signals Node left ignored in this process: given back their default before exec. */
  ignoredSignals: number[]
}

/**
 * Reads the configuration from fd 3. Blocks until the host side has sent it (and, from step 03,
 * has put this process into its cgroup). An empty read means the engine died first.
 */
export function receiveConfig(): Received {
  // Read now, while the host's /proc is still there: after chroot there may be no /proc at all.
  const ignoredSignals = signalsIn('self', 'SigIgn') ?? []
  const text = fs.readFileSync(CONFIG_FD, 'utf8')
  fs.closeSync(CONFIG_FD) // the command must not inherit it
  if (!text) process.exit(EXIT.ENGINE_FAILED)
  return { config: JSON.parse(text) as InitConfig, ignoredSignals }
}

/**
 * Tells the engine that init's namespaces exist, and waits (blocking: nothing else may run meanwhile) until the
 * engine has done its part with them, e.g. plugged a network cable into the new network namespace. If the
 * engine is gone instead, there is nothing left to wait for: exit.
 */
export function waitForHost(): void {
  fs.writeSync(SYNC_FD, PAUSED)
  const buffer = Buffer.alloc(64)
  let received = ''
  while (!received.includes(RESUME)) {
    const n = fs.readSync(SYNC_FD, buffer)
    if (n === 0) process.exit(EXIT.ENGINE_FAILED)
    received += buffer.toString('utf8', 0, n)
  }
  fs.closeSync(SYNC_FD)
}

/**
 * Replaces this process by the user's command, which thereby keeps PID 1, the namespaces, the
 * root and the cgroup. Looks the command up in PATH like a shell. Never returns.
 */
export function execCommand(command: string[], env: Record<string, string>, ignoredSignals: number[]): never {
  const [name] = command as [string]
  const file = findExecutable(name, env.PATH ?? '')
  if (!file) fail(EXIT.NOT_FOUND, `${name}: command not found in the container (PATH=${env.PATH})`)
  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd)
  closeOnExecFrom(3)
  restoreDefaultSignals(ignoredSignals)
  const error = execve(file, command, Object.entries(env).map(([key, value]) => `${key}=${value}`))
  // Still here: execve failed.
  const exists = fs.existsSync(file)
  if (!exists) fail(EXIT.NOT_FOUND, `${error.message}: no such file in the container`)
  // ENOENT for a file that exists: its #! interpreter or its dynamic loader is missing.
  fail(error.code === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.CANNOT_EXECUTE, error.code === 'ENOENT'
    ? `${error.message}: the file exists, but its #! interpreter or dynamic loader is not in the container`
    : error.message)
}

function findExecutable(name: string, searchPath: string): string | undefined {
  if (name.includes('/')) return name // a path: execve will tell what is wrong with it
  for (const dir of searchPath.split(':').filter(Boolean)) {
    const candidate = path.join(dir, name)
    try {
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function fail(status: number, message: string): never {
  process.stderr.write(`minicontainer: ${message}\n`)
  process.exit(status)
}

