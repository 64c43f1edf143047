// The laptop -> VM carry-over: before a command runs in the workshop VM, the VM's copy of the repository (/vagrant)
// is brought up to date over the ssh connection the command uses anyway, so no shared-folder driver is needed (the
// workshop box has none). Only what changed travels: rsync where the laptop has it, a tar stream otherwise (Windows
// has OpenSSH and tar, but no rsync). A file whose copy in the VM is newer than the laptop's (edited inside the VM)
// is never overwritten: the carry-over stops and names it.
//
// What "changed" means: size or modification time (whole seconds) differ. Both transports keep the laptop's
// modification times, so after a carry-over the two sides compare equal. Deletions on the laptop are carried over
// for files that an earlier carry-over sent (recorded in .vagrant/minicontainer-carry.json); files created inside
// the VM are left alone.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { shellQuote } from '../shell.ts'
import { PROJECT_ROOT } from '../steps.ts'

/** Folders never carried (and never touched in the VM): per-machine installs, caches, VCS, Vagrant's state, progress. */
export const NOT_CARRIED = ['node_modules', '.tools', '.vagrant', '.git', 'cache', 'dist', '.minicontainer']

export interface SshTarget {
  /** The ssh_config file (`vagrant ssh-config`) and the host alias in it. */
  file: string
  host: string
}

export interface FileState {
  size: number
  /** Modification time, whole seconds. */
  mtime: number
}
export type Tree = Map<string, FileState>

export interface CarryPlan {
  send: string[]
  remove: string[]
  /** Files the VM has newer (or changed after the laptop deleted them): never overwritten. */
  conflicts: { file: string; why: string }[]
}

export type CarryResult =
  | { ok: true; shared: boolean; sent: number; removed: number; bytes: number; ms: number; transport: 'rsync' | 'tar' | 'none'; files: string[] }
  | { ok: false; message: string }

/** The files of the repository to carry: regular files, paths relative and with `/`, outside NOT_CARRIED. */
export function localTree(root = PROJECT_ROOT): Tree {
  const tree: Tree = new Map()
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (NOT_CARRIED.includes(entry.name) && (prefix === '' || entry.name === 'node_modules')) continue
      const relative = prefix + entry.name
      if (entry.isDirectory()) walk(path.join(dir, entry.name), relative + '/')
      else if (entry.isFile()) {
        const stat = fs.statSync(path.join(dir, entry.name))
        tree.set(relative, { size: stat.size, mtime: Math.floor(stat.mtimeMs / 1000) })
      }
    }
  }
  walk(root, '')
  return tree
}

/** What to send, remove, and refuse to overwrite, from the laptop's tree, the VM's, and what was sent last time. */
export function planCarry(local: Tree, remote: Tree, sentBefore: Tree): CarryPlan {
  const plan: CarryPlan = { send: [], remove: [], conflicts: [] }
  for (const [file, mine] of local) {
    const theirs = remote.get(file)
    if (!theirs) plan.send.push(file)
    else if (theirs.size === mine.size && theirs.mtime === mine.mtime) continue
    else if (theirs.mtime > mine.mtime) plan.conflicts.push({ file, why: 'newer in the VM than on the laptop' })
    else plan.send.push(file)
  }
  for (const [file, theirs] of remote) {
    if (local.has(file)) continue
    const sent = sentBefore.get(file)
    if (!sent) continue // made inside the VM: not ours to delete
    if (sent.size === theirs.size && sent.mtime === theirs.mtime) plan.remove.push(file)
    else plan.conflicts.push({ file, why: 'deleted on the laptop, changed in the VM' })
  }
  plan.send.sort()
  plan.remove.sort()
  return plan
}

/** Parses `find -printf '%P\t%s\t%T@\n'` output. */
export function parseRemoteTree(text: string): Tree {
  const tree: Tree = new Map()
  for (const line of text.split('\n')) {
    const [file, size, mtime] = line.split('\t')
    if (file && size !== undefined && mtime !== undefined) tree.set(file, { size: Number(size), mtime: Math.floor(Number(mtime)) })
  }
  return tree
}

/** ssh's options for the VM. One connection serves a whole round (the listing, the transfer, the command) and the
 * next rounds for a while: OpenSSH's connection sharing, where it has it (not Windows' OpenSSH). */
export function sshArgs(ssh: SshTarget, tty: boolean): string[] {
  const share = process.platform === 'win32' || process.env.MINICONTAINER_SSH_SHARE === '0'
    ? []
    : ['-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(os.tmpdir(), 'minicontainer-ssh-%C')}`, '-o', 'ControlPersist=300']
  return ['-F', ssh.file, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', ...share, tty ? '-tt' : '-T', ssh.host]
}

const stateFile = (dotfileDir: string): string => path.join(dotfileDir, 'minicontainer-carry.json')

function readSent(dotfileDir: string, machine: string): Tree {
  try {
    const state = JSON.parse(fs.readFileSync(stateFile(dotfileDir), 'utf8')) as { machine: string; files: Record<string, [number, number]> }
    if (state.machine === machine) return new Map(Object.entries(state.files).map(([f, [size, mtime]]) => [f, { size, mtime }]))
  } catch {
    // none yet
  }
  return new Map()
}

function writeSent(dotfileDir: string, machine: string, tree: Tree): void {
  const files = Object.fromEntries([...tree].map(([f, s]) => [f, [s.size, s.mtime]]))
  fs.mkdirSync(dotfileDir, { recursive: true })
  fs.writeFileSync(stateFile(dotfileDir), JSON.stringify({ machine, files }) + '\n')
}

/** Runs `ssh HOST COMMAND` with INPUT on stdin; its stdout, stderr and status. */
function sshRun(ssh: SshTarget, command: string, input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('ssh', [...sshArgs(ssh, false), command], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? (result.error?.message ?? '') }
}

let rsyncOnLaptop: boolean | undefined
function laptopHasRsync(): boolean {
  rsyncOnLaptop ??= spawnSync('rsync', ['--version'], { stdio: 'ignore' }).status === 0
  return rsyncOnLaptop
}

/** The VM's side of the listing: "shared" when /vagrant is a synced folder (nothing to carry), else whether the VM
 * has rsync, then its files. */
export function remoteListCommand(vmRepo: string): string {
  const prune = NOT_CARRIED.map((d) => `-path ./${d}`).concat('-name node_modules').join(' -o ')
  return [
    `mkdir -p ${shellQuote(vmRepo)} 2>/dev/null; cd ${shellQuote(vmRepo)} || exit 3`,
    'if mountpoint -q .; then echo shared; exit 0; fi',
    'echo copy',
    'if command -v rsync >/dev/null; then echo rsync; else echo no-rsync; fi',
    `find . \\( ${prune} \\) -prune -o -type f -printf '%P\\t%s\\t%T@\\n'`,
  ].join('; ')
}

/** After the files arrived: deletions, and npm's stamp when the lockfile came back unchanged (see provision.sh). */
function remoteFinishCommand(vmRepo: string, remove: string[], lockSent: boolean): string {
  const steps = [`cd ${shellQuote(vmRepo)}`]
  if (remove.length) steps.push(`rm -f -- ${remove.map(shellQuote).join(' ')}`)
  if (lockSent) {
    // node_modules (baked into the box, or installed by provisioning) matches this lockfile: its modification time is
    // the laptop's, so tell bin/node's "lockfile newer than node_modules" check that nothing changed.
    steps.push(
      'if [ -f node_modules/.minicontainer-package-lock.sha256 ] && [ "$(sha256sum package-lock.json | cut -c1-64)" = "$(cat node_modules/.minicontainer-package-lock.sha256)" ]; then sudo -n touch node_modules/.package-lock.json 2>/dev/null || true; fi',
    )
  }
  return steps.join(' && ')
}

function pipeTar(ssh: SshTarget, localRoot: string, files: string[], vmRepo: string, finish: string): Promise<{ status: number; stderr: string }> {
  const list = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicontainer-carry-')), 'files')
  fs.writeFileSync(list, files.join('\n') + '\n')
  return new Promise((resolve) => {
    const tar = spawn('tar', ['-c', '-f', '-', '-T', list], { cwd: localRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    const remote = spawn('ssh', [...sshArgs(ssh, false), `tar -x -f - -C ${shellQuote(vmRepo)} && ${finish}`], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    tar.stderr.on('data', (d) => (stderr += d))
    remote.stderr.on('data', (d) => (stderr += d))
    tar.stdout.pipe(remote.stdin)
    let tarStatus = 0
    tar.on('error', (e) => ((stderr += `tar: ${e.message}\n`), (tarStatus = 127)))
    tar.on('close', (code) => (tarStatus ||= code ?? 1))
    remote.on('error', (e) => (stderr += `ssh: ${e.message}\n`))
    remote.on('close', (code) => {
      fs.rmSync(path.dirname(list), { recursive: true, force: true })
      resolve({ status: tarStatus || (code ?? 1), stderr })
    })
  })
}

function runRsync(ssh: SshTarget, localRoot: string, files: string[], vmRepo: string): Promise<{ status: number; stderr: string }> {
  const quote = (s: string): string => (/[\s"']/.test(s) ? `"${s.replace(/"/g, '\\"')}"` : s)
  const rsh = ['ssh', ...sshArgs(ssh, false).slice(0, -1)].map(quote).join(' ')
  return new Promise((resolve) => {
    const child = spawn('rsync', ['--archive', '--no-owner', '--no-group', '--compress', '--from0', '--files-from=-', '-e', rsh, './', `${ssh.host}:${vmRepo}/`], {
      cwd: localRoot,
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', (e) => (stderr += `rsync: ${e.message}\n`))
    child.on('close', (code) => resolve({ status: code ?? 1, stderr }))
    child.stdin.end(files.join('\0'))
  })
}

export interface CarryOptions {
  vmRepo: string
  /** The laptop's repository (default: this one). */
  localRoot?: string
  /** Vagrant's machine folder (.vagrant/), where what was sent is recorded. */
  dotfileDir: string
  /** The VM's identity (a new VM starts from nothing). */
  machine: string
  /** Force a transport (tests; MINICONTAINER_CARRY=tar|rsync). */
  transport?: 'rsync' | 'tar'
}

/** Brings the VM's copy of the repository up to date. Refuses (ok: false) rather than overwrite a change made in the VM. */
export async function carryToVm(ssh: SshTarget, options: CarryOptions): Promise<CarryResult> {
  const started = performance.now()
  const localRoot = options.localRoot ?? PROJECT_ROOT
  const local = localTree(localRoot)
  const listing = sshRun(ssh, remoteListCommand(options.vmRepo))
  if (listing.status !== 0) {
    return { ok: false, message: `cannot read the VM's copy of the repository in ${options.vmRepo} (ssh: ${listing.stderr.trim() || `status ${listing.status}`}); \`vagrant provision\` makes the folder` }
  }
  const [where, rsyncInVm, ...lines] = listing.stdout.split('\n')
  if (where === 'shared') return { ok: true, shared: true, sent: 0, removed: 0, bytes: 0, ms: performance.now() - started, transport: 'none', files: [] }
  const sentBefore = readSent(options.dotfileDir, options.machine)
  const plan = planCarry(local, parseRemoteTree(lines.join('\n')), sentBefore)
  if (plan.conflicts.length) {
    const shown = plan.conflicts.slice(0, 5).map((c) => `${c.file} (${c.why})`).join(', ')
    const more = plan.conflicts.length > 5 ? ` and ${plan.conflicts.length - 5} more` : ''
    const first = plan.conflicts[0]!.file
    return {
      ok: false,
      message:
        `not overwriting the VM's copy of ${shown}${more}: it was changed inside the VM.\n` +
        `Keep the laptop's: vagrant ssh -c "rm ${options.vmRepo}/${first}"; keep the VM's: copy it to the laptop first (vagrant ssh -c "cat ${options.vmRepo}/${first}"), then run this again.`,
    }
  }
  const bytes = plan.send.reduce((sum, f) => sum + (local.get(f)?.size ?? 0), 0)
  const finish = remoteFinishCommand(options.vmRepo, plan.remove, plan.send.includes('package-lock.json'))
  let transport: 'rsync' | 'tar' = options.transport ?? (laptopHasRsync() && rsyncInVm === 'rsync' ? 'rsync' : 'tar')
  if (plan.send.length) {
    let result =
      transport === 'rsync' ? await runRsync(ssh, localRoot, plan.send, options.vmRepo) : await pipeTar(ssh, localRoot, plan.send, options.vmRepo, finish)
    if (transport === 'rsync' && result.status === 0 && (plan.remove.length || plan.send.includes('package-lock.json'))) {
      const done = sshRun(ssh, finish)
      result = { status: done.status ?? 1, stderr: done.stderr }
    }
    if (result.status !== 0) {
      return { ok: false, message: `could not carry the files into the VM (${transport}, status ${result.status}): ${result.stderr.trim().split('\n').slice(-2).join(' ')}` }
    }
  } else if (plan.remove.length) {
    const done = sshRun(ssh, finish)
    if (done.status !== 0) return { ok: false, message: `could not remove deleted files in the VM: ${done.stderr.trim()}` }
  }
  if (plan.send.length || plan.remove.length || sentBefore.size !== local.size) writeSent(options.dotfileDir, options.machine, local)
  return { ok: true, shared: false, sent: plan.send.length, removed: plan.remove.length, bytes, ms: performance.now() - started, transport, files: [...plan.send, ...plan.remove] }
}

/** The VM's learner progress (written by the checker there) copied back, so `npm run status` on the laptop knows it. */
export function fetchFromVm(ssh: SshTarget, vmRepo: string, relative: string): void {
  const result = sshRun(ssh, `cat ${shellQuote(`${vmRepo}/${relative}`)} 2>/dev/null`)
  if (result.status !== 0 || !result.stdout) return
  const target = path.join(PROJECT_ROOT, ...relative.split('/'))
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.writeFileSync(target, result.stdout)
}
