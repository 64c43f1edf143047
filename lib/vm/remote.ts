// The host -> VM path. Containers need Linux, root and cgroups; a learner's macOS or Windows laptop has none of
// them, so there the checker (and doctor) runs the same npm script inside the workshop VM (vagrant/). Before each
// command the VM's copy of the repository (/vagrant) is brought up to date over the same ssh connection (carry.ts):
// the learner edits on the laptop, the VM gets the files, with no shared-folder driver.
//
// Fast path: `vagrant ssh-config` is cached next to Vagrant's own machine data and plain ssh is used (a `vagrant`
// call costs 1-5 s, `vagrant ssh` more); `vagrant status --machine-readable` is read only when ssh cannot get in,
// to say what to do (create the VM, start it, ...).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { EXIT } from '../errors.ts'
import { cgroupStatus } from '../cgroupfs.ts'
import { containerHostProblem } from '../host-requirements.ts'
import { shellQuote } from '../shell.ts'
import { PROJECT_ROOT } from '../steps.ts'
import { FIX, hostArch, workshopBoxSource } from './advice.ts'
import { carryToVm, fetchFromVm, localTree, sshArgs, type SshTarget, type Tree } from './carry.ts'

/** Where the repository lives inside the VM (carried over, or the provider's synced folder for a named box). */
export const VM_REPO = '/vagrant'

export type HostVerdict = { ok: true } | { ok: false; reason: string }

// Re-exported for doctor; the detection lives with the rest of the cgroup housekeeping.
export { cgroupStatus, type CgroupStatus } from '../cgroupfs.ts'

/** Can this machine run the learner's containers itself? If not, the reason (and the VM is the way). */
export function hostCanRunContainers(): HostVerdict {
  if (process.env.MINICONTAINER_FORCE_VM === '1') {
    return { ok: false, reason: 'MINICONTAINER_FORCE_VM=1 asks for the workshop VM' }
  }
  const problem = containerHostProblem()
  if (problem) return { ok: false, reason: problem.problem }
  const cgroups = cgroupStatus()
  if (!cgroups.memory) return { ok: false, reason: `containers need the cgroup memory controller (${cgroups.detail})` }
  return { ok: true }
}

/** Vagrant's machine folder (.vagrant/ at the root, or VAGRANT_DOTFILE_PATH). */
function dotfileDir(): string {
  const custom = process.env.VAGRANT_DOTFILE_PATH
  return custom ? path.resolve(PROJECT_ROOT, custom) : path.join(PROJECT_ROOT, '.vagrant')
}

/** The VM's id as Vagrant recorded it (it changes when the VM is destroyed and created again). */
function machineId(): string | undefined {
  const machine = path.join(dotfileDir(), 'machines', 'default')
  let providers: string[]
  try {
    providers = fs.readdirSync(machine)
  } catch {
    return undefined
  }
  for (const provider of providers) {
    try {
      const id = fs.readFileSync(path.join(machine, provider, 'id'), 'utf8').trim()
      if (id) return `${provider}:${id}`
    } catch {
      // no VM for this provider
    }
  }
  return undefined
}

export interface VmStatus {
  /** Vagrant answered (false: not installed, or it failed; see detail). */
  vagrant: boolean
  /** running, not_created, poweroff, shutoff, saved, aborted, ... (Vagrant's own words). */
  state: string | undefined
  provider: string | undefined
  detail: string
}

/** `vagrant status --machine-readable` for the project's VM. Slow (a few seconds): not on the fast path. */
export function vmStatus(): VmStatus {
  const result = spawnSync('vagrant', ['status', '--machine-readable'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
  if (result.error) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT'
    return {
      vagrant: false,
      state: undefined,
      provider: undefined,
      detail: missing ? 'Vagrant is not installed (no `vagrant` on PATH)' : `vagrant status: ${result.error.message}`,
    }
  }
  const fields = (type: string): string | undefined =>
    result.stdout
      .split(/\r?\n/)
      .map((line) => line.split(','))
      .find((parts) => parts[2] === type)?.[3]
  const state = fields('state')
  const provider = fields('provider-name')
  if (result.status !== 0 || !state) {
    const error = (fields('error-message')?.replace(/%!\(VAGRANT_COMMA\)/g, ',').replace(/\\n/g, '\n') ?? result.stderr).trim()
    // Vagrant's words when no provider is installed (or the chosen one is not usable on this machine).
    if (/No usable default provider|provider .* (could not be found|is not usable)|installation is incomplete/i.test(error)) {
      return { vagrant: true, state: 'no_provider', provider, detail: error.split('\n')[0]! }
    }
    return { vagrant: false, state, provider, detail: `vagrant status failed: ${error.split('\n')[0]}` }
  }
  const human = fields('state-human-short') ?? state
  return { vagrant: true, state, provider, detail: `${human} (${provider ?? 'unknown provider'})` }
}

/** What to tell a learner whose VM is not there or not running: one line, with the command that fixes it (doctor
 * shows the same fixes); undefined when it runs. */
export function adviceFor(status: VmStatus): string | undefined {
  if (!status.vagrant) {
    return status.detail.startsWith('Vagrant is not installed') ? `Vagrant is not installed: ${FIX.installVagrant}` : `${status.detail}: ${FIX.vagrantBroken}`
  }
  switch (status.state) {
    case 'running':
      return undefined
    case 'no_provider':
      return `no VM provider is usable (${status.detail}): ${FIX.installProvider(os.platform() === 'darwin' && os.arch() === 'arm64')}`
    case 'not_created':
      return `the workshop VM does not exist yet: ${FIX.createVm}`
    case 'saved':
    case 'suspended':
    case 'paused':
      return `the workshop VM is ${status.state}: ${FIX.resumeVm}`
    case 'aborted':
      return `the workshop VM stopped abruptly (aborted): ${FIX.startAbortedVm}`
    default:
      return `the workshop VM is not running (${status.detail}): ${FIX.startVm}`
  }
}

const sshConfigFile = (): string => path.join(dotfileDir(), 'minicontainer-ssh-config')

/** The cached `vagrant ssh-config` (first line: the machine id it belongs to) and its host alias. */
function cachedSshConfig(): SshTarget | undefined {
  const id = machineId()
  if (!id) return undefined
  let text: string
  try {
    text = fs.readFileSync(sshConfigFile(), 'utf8')
  } catch {
    return undefined
  }
  if (text.split('\n', 1)[0] !== `# machine ${id}`) return undefined
  const host = /^Host\s+(\S+)/m.exec(text)?.[1]
  return host ? { file: sshConfigFile(), host } : undefined
}

function refreshSshConfig(): SshTarget | undefined {
  const result = spawnSync('vagrant', ['ssh-config'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
  const host = /^Host\s+(\S+)/m.exec(result.stdout ?? '')?.[1]
  if (result.status !== 0 || !host) return undefined
  fs.mkdirSync(dotfileDir(), { recursive: true })
  fs.writeFileSync(sshConfigFile(), `# machine ${machineId() ?? 'unknown'}\n${result.stdout}`, { mode: 0o600 })
  return { file: sshConfigFile(), host }
}

function sshWorks(ssh: SshTarget): boolean {
  return spawnSync('ssh', [...sshArgs(ssh, false), 'true'], { stdio: 'ignore', timeout: 30_000 }).status === 0
}

export { shellQuote }

/** The folder inside the VM matching where the command was started on the host (the repository root otherwise). */
function remoteCwd(): string {
  const relative = path.relative(PROJECT_ROOT, process.env.INIT_CWD ?? process.cwd())
  if (!relative || relative.startsWith('..') || path.isAbsolute(relative)) return VM_REPO
  return path.posix.join(VM_REPO, ...relative.split(path.sep))
}

/** The shell command run in the VM: `npm run SCRIPT -- ARGS` as root in the VM's copy of the repository. */
export function remoteCommand(script: string, args: string[]): string {
  // Passed through: output style, and the checker's time limits (a VM under software emulation is slow).
  const env = ['CI', 'NO_COLOR', 'FORCE_COLOR', 'MINICONTAINER_TIMEOUT_SCALE', 'MINICONTAINER_ALPINE_FIXTURES']
    .filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${shellQuote(process.env[name] ?? '')}`)
  const npm = ['npm', 'run', '--silent', script, '--', ...args].map(shellQuote).join(' ')
  return `cd ${shellQuote(remoteCwd())} && exec sudo ${env.length ? `env ${env.join(' ')} ` : ''}${npm}`
}

const say = (text: string): void => {
  process.stderr.write(text.replace(/^/gm, 'minicontainer: ') + '\n')
}

/** ssh into the VM, or undefined after saying (one line) what is wrong and what fixes it. */
async function reachVm(): Promise<SshTarget | undefined> {
  let ssh = cachedSshConfig()
  if (ssh && sshWorks(ssh)) return ssh
  const status = vmStatus()
  const advice = adviceFor(status)
  if (advice) {
    // Not created, and the workshop box cannot be had: `vagrant up` would fail, so say what would.
    const box = status.state === 'not_created' && !process.env.MINICONTAINER_BOX && status.provider ? await workshopBoxSource(status.provider) : undefined
    say(box && !box.ok ? `the workshop VM does not exist yet, and ${box.detail}: ${FIX.boxWaysOut(status.provider!, hostArch())}` : advice)
    return undefined
  }
  ssh = refreshSshConfig()
  if (!ssh || !sshWorks(ssh)) {
    say(`the workshop VM is running but ssh cannot get in: ${FIX.sshRefused}`)
    return undefined
  }
  return ssh
}

/** Brings the VM's copy up to date (MINICONTAINER_CARRY=off: not at all; =tar or =rsync: that way); false after
 * saying why when it must not or cannot. */
async function carry(ssh: SshTarget): Promise<boolean> {
  const mode = process.env.MINICONTAINER_CARRY
  if (mode === 'off') return true
  const result = await carryToVm(ssh, {
    vmRepo: VM_REPO,
    dotfileDir: dotfileDir(),
    machine: machineId() ?? 'unknown',
    transport: mode === 'tar' || mode === 'rsync' ? mode : undefined,
  })
  if (!result.ok) {
    say(result.message)
    return false
  }
  const seconds = (result.ms / 1000).toFixed(1)
  if (result.sent || result.removed) {
    const what = [result.sent ? `${result.sent} file(s), ${Math.ceil(result.bytes / 1024)} KiB` : '', result.removed ? `${result.removed} deletion(s)` : '']
    const named = result.files.length <= 3 ? `: ${result.files.join(', ')}` : ''
    say(`carried ${what.filter(Boolean).join(', ')} into the VM (${result.transport}, ${seconds} s)${named}`)
  } else if (process.env.MINICONTAINER_CARRY_REPORT === '1') {
    say(`the VM's copy is up to date (${result.shared ? 'a synced folder' : 'compared'} in ${seconds} s)`)
  }
  return true
}

function runOverSsh(ssh: SshTarget, command: string): Promise<number> {
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY)
  const child = spawn('ssh', [...sshArgs(ssh, tty), command], { stdio: 'inherit' })
  return new Promise<number>((resolve) => {
    child.on('error', (error) => {
      say(`ssh: ${error.message} (an OpenSSH client is needed on PATH)`)
      resolve(EXIT.ENGINE_FAILED)
    })
    child.on('close', (code, signal) => {
      resolve(code ?? EXIT.SIGNAL_BASE + (signal ? (os.constants.signals[signal] ?? 0) : 0))
    })
  })
}

/** One delegated command: carry the files over, run it, bring the learner's progress back for `npm run status`. */
async function roundInVm(ssh: SshTarget, script: string, args: string[]): Promise<number> {
  if (!(await carry(ssh))) return EXIT.ENGINE_FAILED
  const status = await runOverSsh(ssh, remoteCommand(script, args))
  if (script === 'check' && process.env.MINICONTAINER_CARRY !== 'off') fetchFromVm(ssh, VM_REPO, '.minicontainer/progress.json')
  return status
}

const WATCH_FLAGS = new Set(['--watch', '-w'])

/** Has anything the carry-over would send changed since `before`? */
function changedSince(before: Tree): boolean {
  const now = localTree()
  return now.size !== before.size || [...now].some(([file, s]) => before.get(file)?.mtime !== s.mtime || before.get(file)?.size !== s.size)
}

/**
 * Runs `npm run SCRIPT -- ARGS` inside the workshop VM as root, streaming its output; resolves to its exit status
 * (125 when the VM cannot be reached, after saying why and what to do). `check --watch` watches on the laptop (the
 * VM's copy changes only when it is carried over): every change carries the files and checks again.
 */
export async function runInVm(script: string, args: string[]): Promise<number> {
  const ssh = await reachVm()
  if (!ssh) return EXIT.ENGINE_FAILED
  if (script !== 'check' || !args.some((a) => WATCH_FLAGS.has(a))) return await roundInVm(ssh, script, args)
  const once = args.filter((a) => !WATCH_FLAGS.has(a))
  for (;;) {
    const before = localTree()
    if (process.stdout.isTTY) process.stdout.write('\u001bc')
    await roundInVm(ssh, script, once)
    console.log('watching for changes on the laptop (Ctrl-C to stop)...')
    while (!changedSince(before)) await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}
