// The host -> VM path. Containers need Linux, root and cgroups; a learner's macOS or Windows laptop has none of
// them, so there the checker (and doctor) runs the same npm script inside the workshop VM (vagrant/), where the
// repository is synced at /vagrant: the learner edits on the host, the VM sees the files.
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

/** Where the Vagrantfile syncs the repository inside the VM. */
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
    const error = fields('error-message')?.replace(/%!\(VAGRANT_COMMA\)/g, ',').replace(/\\n/g, '\n')
    return { vagrant: false, state, provider, detail: `vagrant status failed: ${(error ?? result.stderr).trim()}` }
  }
  const human = fields('state-human-short') ?? state
  return { vagrant: true, state, provider, detail: `${human} (${provider ?? 'unknown provider'})` }
}

/** What to tell a learner whose VM is not there or not running; undefined when it runs. */
export function adviceFor(status: VmStatus): string | undefined {
  if (!status.vagrant) {
    return `${status.detail}.\nInstall Vagrant and a provider (VirtualBox, VMware, Parallels or libvirt), then \`vagrant up\` in ${PROJECT_ROOT}: see vagrant/README.md.`
  }
  switch (status.state) {
    case 'running':
      return undefined
    case 'not_created':
      return `The workshop VM does not exist yet. Create it with \`vagrant up\` in ${PROJECT_ROOT} (the first time takes a few minutes), then run this again.`
    case 'saved':
    case 'suspended':
    case 'paused':
      return `The workshop VM is ${status.state}. Resume it with \`vagrant up\` (or \`vagrant resume\`), then run this again.`
    case 'aborted':
      return 'The workshop VM stopped abruptly (aborted). Start it with `vagrant up`; if that fails, `vagrant reload`, or `vagrant destroy` and `vagrant up`.'
    default:
      return `The workshop VM is not running (${status.detail}). Start it with \`vagrant up\`, then run this again.`
  }
}

const sshConfigFile = (): string => path.join(dotfileDir(), 'minicontainer-ssh-config')

/** The cached `vagrant ssh-config` (first line: the machine id it belongs to) and its host alias. */
function cachedSshConfig(): { file: string; host: string } | undefined {
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

function refreshSshConfig(): { file: string; host: string } | undefined {
  const result = spawnSync('vagrant', ['ssh-config'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
  const host = /^Host\s+(\S+)/m.exec(result.stdout ?? '')?.[1]
  if (result.status !== 0 || !host) return undefined
  fs.mkdirSync(dotfileDir(), { recursive: true })
  fs.writeFileSync(sshConfigFile(), `# machine ${machineId() ?? 'unknown'}\n${result.stdout}`, { mode: 0o600 })
  return { file: sshConfigFile(), host }
}

function sshArgs(ssh: { file: string; host: string }, tty: boolean): string[] {
  return ['-F', ssh.file, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', tty ? '-tt' : '-T', ssh.host]
}

function sshWorks(ssh: { file: string; host: string }): boolean {
  return spawnSync('ssh', [...sshArgs(ssh, false), 'true'], { stdio: 'ignore', timeout: 30_000 }).status === 0
}

export { shellQuote }

/** The folder inside the VM matching where the command was started on the host (the repository root otherwise). */
function remoteCwd(): string {
  const relative = path.relative(PROJECT_ROOT, process.env.INIT_CWD ?? process.cwd())
  if (!relative || relative.startsWith('..') || path.isAbsolute(relative)) return VM_REPO
  return path.posix.join(VM_REPO, ...relative.split(path.sep))
}

/** The shell command run in the VM: `npm run SCRIPT -- ARGS` as root in the synced repository. */
export function remoteCommand(script: string, args: string[]): string {
  // Passed through: output style, and the checker's time limits (a VM under software emulation is slow).
  const env = ['CI', 'NO_COLOR', 'FORCE_COLOR', 'MINICONTAINER_TIMEOUT_SCALE', 'MINICONTAINER_ALPINE_FIXTURES']
    .filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${shellQuote(process.env[name] ?? '')}`)
  const npm = ['npm', 'run', '--silent', script, '--', ...args].map(shellQuote).join(' ')
  return `cd ${shellQuote(remoteCwd())} && exec sudo ${env.length ? `env ${env.join(' ')} ` : ''}${npm}`
}

/**
 * Runs `npm run SCRIPT -- ARGS` inside the workshop VM as root, streaming its output; resolves to its exit status
 * (125 when the VM cannot be reached, after saying why and what to do).
 */
export async function runInVm(script: string, args: string[]): Promise<number> {
  const say = (text: string): void => {
    process.stderr.write(text.replace(/^/gm, 'minicontainer: ') + '\n')
  }
  let ssh = cachedSshConfig()
  if (!ssh || !sshWorks(ssh)) {
    const status = vmStatus()
    const advice = adviceFor(status)
    if (advice) {
      say(advice)
      return EXIT.ENGINE_FAILED
    }
    ssh = refreshSshConfig()
    if (!ssh || !sshWorks(ssh)) {
      say('The workshop VM is running but ssh cannot get in. Try `vagrant reload`; `vagrant ssh` shows the details.')
      return EXIT.ENGINE_FAILED
    }
  }
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY)
  const child = spawn('ssh', [...sshArgs(ssh, tty), remoteCommand(script, args)], { stdio: 'inherit' })
  return await new Promise<number>((resolve) => {
    child.on('error', (error) => {
      say(`ssh: ${error.message} (an OpenSSH client is needed on PATH)`)
      resolve(EXIT.ENGINE_FAILED)
    })
    child.on('close', (code, signal) => {
      resolve(code ?? EXIT.SIGNAL_BASE + (signal ? (os.constants.signals[signal] ?? 0) : 0))
    })
  })
}
