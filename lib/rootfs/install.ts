// `npm run rootfs [-- --version 3.24.2] [--arch x86_64|aarch64] [--from FILE] [--force]`
// Installs the Alpine minirootfs the containers run in, verified against the sha512 sums pinned in this folder.
// Safe to interrupt: everything is built under a `.staging-*` name and renamed into place only when complete
// (the marker file written last), so a half rootfs is never taken for a good one; leftovers go on the next run.
import { createHash, randomBytes } from 'node:crypto'
import { execFile, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream } from 'node:stream/web'
import { parseArgs } from 'node:util'
import kleur from 'kleur'
import { FriendlyError, formatError } from '../errors.ts'
import { isLinux, isRoot } from '../host-requirements.ts'
import { PROJECT_ROOT } from '../steps.ts'
import { MARKER, currentRootfs, minicontainerHome, readInstalled, rootfsRoot, type InstalledRootfs } from './location.ts'

export const DEFAULT_VERSION = '3.24.2'
export const ARCHES = ['x86_64', 'aarch64']
const MIRROR = 'https://dl-cdn.alpinelinux.org/alpine'
const SUMS_FILE = path.join(import.meta.dirname, 'SHA512SUMS')
const NAME = /^alpine-minirootfs-(\d+\.\d+\.\d+)-(x86_64|aarch64)\.tar\.gz$/
/** A download that receives nothing for this long fails, rather than hanging a class forever. */
const IDLE_TIMEOUT_MS = 30_000
const ARCH_HINT = `choose one with --arch ${ARCHES.join(' or --arch ')}`

export interface InstallOptions {
  /** Alpine version (default 3.24.2; when left out and offline, a cached pinned tarball of another version will do). */
  version?: string
  /** x86_64 or aarch64 (default: this machine's). */
  arch?: string
  /** A local tarball instead of a download; its file name must be one of the pinned ones. */
  from?: string
  /** Reinstall even when the same tarball is already installed. */
  force?: boolean
  /** Folders searched for the tarball before downloading it (default: cacheDirs()). */
  cacheDirs?: string[]
  /** No messages, no progress bar (tests). */
  quiet?: boolean
  /** Keep a downloaded tarball in this folder (a cache of one's own, e.g. the tests'), instead of discarding it. */
  keepDownloadIn?: string
}

export interface InstallResult extends InstalledRootfs {
  /** True when it was already there and nothing was done (besides pointing `current` at it). */
  alreadyInstalled: boolean
}

interface Tarball {
  name: string
  version: string
  arch: string
  /** The pinned sum. */
  sha512: string
}

/** Folders searched for a tarball before downloading it: MINICONTAINER_CACHE (offline classes), then cache/. */
export function cacheDirs(): string[] {
  return [process.env.MINICONTAINER_CACHE, path.join(PROJECT_ROOT, 'cache')].filter((d): d is string => !!d)
}

/** Where a tarball is below a mirror's root: v3.24/releases/x86_64/alpine-minirootfs-3.24.2-x86_64.tar.gz */
export function releasePath(version: string, arch: string): string {
  const branch = version.split('.').slice(0, 2).join('.')
  return `v${branch}/releases/${arch}/alpine-minirootfs-${version}-${arch}.tar.gz`
}

export function downloadUrl(version: string, arch: string): string {
  const base = (process.env.MINICONTAINER_ALPINE_MIRROR || MIRROR).replace(/\/+$/, '')
  return `${base}/${releasePath(version, arch)}`
}

export async function installRootfs(options: InstallOptions = {}): Promise<InstallResult> {
  const say = options.quiet ? () => {} : (line: string) => process.stderr.write(`minicontainer rootfs: ${line}\n`)
  const sums = pinnedSums()
  let wanted = options.from ? tarballOfFile(options.from, sums, options) : tarballFor(options, sums)
  checkMachine()
  refuseHomeInsideProject()
  fs.mkdirSync(rootfsRoot(), { recursive: true })
  removeStale()

  const keep = (t: Tarball) => (options.force ? undefined : alreadyInstalled(t, say))
  let file = options.from
  if (file) {
    // Checked even when installed: a bad file is refused, not silently ignored.
    await verify(file, wanted, file)
  } else {
    // Installed already: answer before any download.
    const done = keep(wanted)
    if (done) return done
    ;({ file, wanted } = await obtain(wanted, options, sums, say))
  }
  const done = keep(wanted)
  if (done) return done

  if (options.keepDownloadIn && unfinished.has(file)) file = keepDownload(file, wanted.name, options.keepDownloadIn)
  const dest = path.join(rootfsRoot(), `alpine-${wanted.version}-${wanted.arch}`)
  say(`unpacking Alpine ${wanted.version} (${wanted.arch}) into ${dest}`)
  try {
    await unpack(file, wanted, dest)
  } finally {
    if (unfinished.has(file)) discard(file) // our download: not kept (a cache folder is where tarballs are kept)
  }
  pointCurrent(dest)
  say(kleur.green(`installed Alpine ${wanted.version} (${wanted.arch}) in ${dest}`))
  return { ...readInstalled(dest)!, alreadyInstalled: false }
}

function alreadyInstalled(t: Tarball, say: (line: string) => void): InstallResult | undefined {
  const installed = readInstalled(path.join(rootfsRoot(), `alpine-${t.version}-${t.arch}`))
  if (installed?.sha512 !== t.sha512) return undefined
  pointCurrent(installed.dir)
  say(`Alpine ${t.version} (${t.arch}) is already installed in ${installed.dir} (--force reinstalls it)`)
  return { ...installed, alreadyInstalled: true }
}

/** name -> sha512, from SHA512SUMS (`<hex>  <file name>` lines, as sha512sum writes them). */
export function pinnedSums(): Map<string, string> {
  const sums = new Map<string, string>()
  for (const line of fs.readFileSync(SUMS_FILE, 'utf8').split('\n')) {
    const [sum, name] = line.trim().split(/\s+\*?/)
    if (sum && name) sums.set(name, sum.toLowerCase())
  }
  return sums
}

function pinnedList(sums?: Map<string, string>): string {
  const file = path.relative(PROJECT_ROOT, SUMS_FILE)
  return sums ? `${[...sums.keys()].join(', ')} (${file})` : file
}

function tarballOfFile(file: string, sums: Map<string, string>, options: InstallOptions): Tarball {
  const name = path.basename(file)
  if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new FriendlyError(`--from ${file}: no such file`)
  const match = NAME.exec(name)
  const sha512 = sums.get(name)
  if (!match || !sha512) {
    const message = `refused ${file}: unknown file name ${name}, not one of the pinned Alpine minirootfs tarballs`
    throw new FriendlyError(message, { hint: `pinned: ${pinnedList(sums)}` })
  }
  const [, version, arch] = match
  if ((options.version && options.version !== version) || (options.arch && options.arch !== arch)) {
    throw new FriendlyError(`--from ${name} is Alpine ${version} (${arch}), not what --version/--arch ask for`)
  }
  return { name, version, arch, sha512 }
}

function tarballFor(options: InstallOptions, sums: Map<string, string>): Tarball {
  const version = options.version ?? DEFAULT_VERSION
  const arch = options.arch ?? machineArch()
  if (!ARCHES.includes(arch)) throw new FriendlyError(`unknown architecture ${arch}`, { hint: ARCH_HINT })
  const name = `alpine-minirootfs-${version}-${arch}.tar.gz`
  const sha512 = sums.get(name)
  if (!sha512) {
    const message = `no pinned sha512 for Alpine ${version} (${arch}), so it could not be verified`
    throw new FriendlyError(message, { hint: `pinned: ${pinnedList(sums)}` })
  }
  return { name, version, arch, sha512 }
}

export function machineArch(): string {
  const arch = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[os.arch()]
  if (!arch) throw new FriendlyError(`no Alpine minirootfs for this machine (${os.arch()})`, { hint: ARCH_HINT })
  return arch
}

function checkMachine(): void {
  // The engine that uses the rootfs needs Linux, and the rootfs' files must belong to root as in a real system.
  if (!isLinux()) {
    const message = `the rootfs is for the Linux engine (this is ${os.platform()})`
    throw new FriendlyError(message, { hint: 'run it in the workshop VM' })
  }
  if (!isRoot()) {
    throw new FriendlyError('must run as root (the rootfs files are owned by root)', { hint: 'run: sudo npm run rootfs' })
  }
}

function refuseHomeInsideProject(): void {
  const home = realPathSoFar(path.resolve(minicontainerHome()))
  const project = fs.realpathSync(PROJECT_ROOT)
  const rel = path.relative(project, home)
  if (rel === '' || !(rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel))) {
    throw new FriendlyError(`MINICONTAINER_HOME=${minicontainerHome()} is inside the project folder ${project}`, {
      hint:
        'the rootfs needs a disk where ownership and device nodes work (in the VM the project is a shared folder): ' +
        'use a folder outside it, e.g. the default /var/lib/minicontainer',
    })
  }
}

/** realpath of the part that exists, so a symlink into the project is seen through before the folder exists. */
function realPathSoFar(p: string): string {
  const parent = path.dirname(p)
  if (fs.existsSync(p)) return fs.realpathSync(p)
  return parent === p ? p : path.join(realPathSoFar(parent), path.basename(p))
}

// --- Getting the tarball ---------------------------------------------------------------------------------------

async function obtain(
  wanted: Tarball,
  options: InstallOptions,
  sums: Map<string, string>,
  say: (line: string) => void,
): Promise<{ file: string; wanted: Tarball }> {
  const dirs = options.cacheDirs ?? cacheDirs()
  const cached = findCached(dirs, (name) => name === wanted.name)
  if (cached) {
    say(`using ${cached}`)
    await verify(cached, wanted, cached)
    return { file: cached, wanted }
  }
  const url = downloadUrl(wanted.version, wanted.arch)
  const file = stagingPath('.tar.gz')
  try {
    await download(url, file, say, !options.quiet)
    await verify(file, wanted, url)
    return { file, wanted }
  } catch (error) {
    discard(file)
    if (!(error instanceof DownloadError)) throw error
    // Offline without --version: a pinned tarball of another version in the cache is better than nothing.
    const sameArch = (name: string) => sums.has(name) && NAME.exec(name)?.[2] === wanted.arch
    const other = options.version === undefined ? findCached(dirs, sameArch) : undefined
    if (!other) {
      const current = currentRootfs()
      const still = current ? ` (Alpine ${current.version} stays installed and in use)` : ''
      const hint = `offline? put ${wanted.name} into ${dirs.join(' or ')}, or run: npm run rootfs -- --from FILE`
      throw new FriendlyError(error.message + still, { hint })
    }
    const name = path.basename(other)
    const fallback = { ...wanted, name, version: NAME.exec(name)![1], sha512: sums.get(name)! }
    const instead = `using the cached ${other} (Alpine ${fallback.version}) instead`
    say(kleur.yellow(`${error.message}; ${instead} (give --version ${wanted.version} to insist)`))
    await verify(other, fallback, other)
    return { file: other, wanted: fallback }
  }
}

/** Moves a verified download into `dir` under its own name (atomically: a rename in the same folder). */
function keepDownload(file: string, name: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true })
  const target = path.join(dir, name)
  const tmp = `${target}.${process.pid}.tmp`
  fs.copyFileSync(file, tmp)
  fs.renameSync(tmp, target)
  discard(file)
  return target
}

/** A download that did not happen (network, HTTP status): the one failure the offline fallback is for. */
class DownloadError extends FriendlyError {}

/** The pinned tarball `alpine-minirootfs-VERSION-ARCH.tar.gz` in one of `dirs`, if there (not verified here). */
export function findPinnedTarball(dirs: string[], version: string, arch: string): string | undefined {
  const name = `alpine-minirootfs-${version}-${arch}.tar.gz`
  return findCached(dirs, (n) => n === name)
}

/** The first matching tarball in the cache folders, newest version first. */
function findCached(dirs: string[], accept: (name: string) => boolean): string | undefined {
  for (const dir of dirs) {
    const names = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((n) => NAME.test(n) && accept(n))
    names.sort((a, b) => compareVersions(NAME.exec(b)![1], NAME.exec(a)![1]))
    if (names.length) return path.join(dir, names[0])
  }
  return undefined
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)]
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
}

async function download(url: string, file: string, say: (line: string) => void, showProgress: boolean): Promise<void> {
  say(`downloading ${url}`)
  const abort = new AbortController()
  const idle = setTimeout(() => abort.abort(), IDLE_TIMEOUT_MS)
  // fetch says "fetch failed"; the cause says why (ENOTFOUND, ECONNREFUSED...).
  const failed = (error: unknown) => {
    const why = abort.signal.aborted
      ? `nothing received for ${IDLE_TIMEOUT_MS / 1000} s`
      : String((error as { cause?: Error }).cause?.message ?? (error as Error).message)
    return new DownloadError(`could not download ${url}: ${why}`)
  }
  try {
    const response = await fetch(url, { signal: abort.signal }).catch((error) => {
      throw failed(error)
    })
    if (!response.ok || !response.body) {
      throw new DownloadError(`could not download ${url}: HTTP ${response.status} ${response.statusText}`)
    }
    const bar = progressBar(Number(response.headers.get('content-length')) || 0, say, showProgress)
    const count = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        idle.refresh()
        bar.add(chunk.length)
        next(null, chunk)
      },
    })
    const body = Readable.fromWeb(response.body as ReadableStream)
    await pipeline(body, count, fs.createWriteStream(file))
      .catch((error) => {
        throw failed(error)
      })
      .finally(() => bar.end())
  } finally {
    clearTimeout(idle)
  }
}

/** A bar redrawn in place on a terminal; when stderr is a file or a pipe (CI, logs), a line every 25 %. */
function progressBar(total: number, say: (line: string) => void, show: boolean) {
  const tty = show && process.stderr.isTTY
  const mb = (n: number) => (n / 1e6).toFixed(1)
  let received = 0
  let lastDraw = 0
  let lastLine = 0
  const draw = () => {
    const width = 30
    const filled = total ? Math.min(width, Math.round((received / total) * width)) : 0
    const percent = total ? `${Math.floor((received / total) * 100)}%`.padStart(4) : ''
    const bar = total ? `[${kleur.cyan('#'.repeat(filled))}${kleur.dim('.'.repeat(width - filled))}] ${percent} ` : ''
    process.stderr.write(`\r  ${bar}${mb(received)}${total ? `/${mb(total)}` : ''} MB`)
  }
  return {
    add(bytes: number) {
      received += bytes
      if (tty) {
        if (Date.now() - lastDraw > 100) (lastDraw = Date.now()), draw()
      } else if (total) {
        const quarter = Math.floor((received / total) * 4) * 25
        if (quarter > lastLine) (lastLine = quarter), say(`downloaded ${quarter}% (${mb(received)} of ${mb(total)} MB)`)
      }
    },
    end() {
      if (tty) draw(), process.stderr.write('\n')
      else if (!total) say(`downloaded ${mb(received)} MB`)
    },
  }
}

async function verify(file: string, wanted: Tarball, label: string): Promise<void> {
  const hash = createHash('sha512')
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk)
  const got = hash.digest('hex')
  if (got !== wanted.sha512) {
    const sums = `expected ${wanted.sha512.slice(0, 16)}..., got ${got.slice(0, 16)}...`
    const hint = unfinished.has(file)
      ? 'the download was damaged, or the mirror does not serve the official file: try again, or another mirror'
      : 'the file is damaged or not the official one: delete it and get it again'
    throw new FriendlyError(`refused ${label}: sha512 mismatch for ${wanted.name}: ${sums}`, {
      hint: `${hint} (pinned sums: ${pinnedList()})`,
    })
  }
}

// --- Installing it: staging dirs, then atomic renames ------------------------------------------------------------

/** Paths of this process's unfinished work, removed on Ctrl-C (and by the next run if we are killed). */
const unfinished = new Set<string>()
let tar: ChildProcess | undefined

function stagingPath(suffix = ''): string {
  const p = path.join(rootfsRoot(), `.staging-${process.pid}-${randomBytes(4).toString('hex')}${suffix}`)
  unfinished.add(p)
  return p
}

function discard(p: string): void {
  fs.rmSync(p, { recursive: true, force: true })
  unfinished.delete(p)
}

/** Leftovers of installs that were killed. A live install's (another pid, or this process's) are left alone. */
function removeStale(): void {
  for (const name of fs.readdirSync(rootfsRoot())) {
    const pid = Number(/^\.staging-(\d+)-/.exec(name)?.[1])
    if (pid && pid !== process.pid && !isAlive(pid)) {
      fs.rmSync(path.join(rootfsRoot(), name), { recursive: true, force: true })
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function unpack(file: string, wanted: Tarball, dest: string): Promise<void> {
  const staging = stagingPath()
  fs.mkdirSync(staging)
  try {
    await untar(file, staging)
  } catch (error) {
    discard(staging)
    throw error
  }
  const { version, arch, sha512 } = wanted
  const marker = { version, arch, sha512, installedAt: new Date().toISOString() }
  fs.writeFileSync(path.join(staging, MARKER), JSON.stringify(marker, null, 2) + '\n')
  // rename() does not replace a non-empty directory: move an old install aside first (under a staging name, so
  // an interruption right here leaves nothing that counts as installed, and the next run cleans it).
  if (fs.existsSync(dest)) {
    const old = stagingPath('-old')
    fs.renameSync(dest, old)
    fs.renameSync(staging, dest)
    discard(old)
  } else {
    fs.renameSync(staging, dest)
  }
  unfinished.delete(staging)
}

/** System tar as root: keeps the numeric owners and modes of the tarball (root-owned files, setuid busybox...). */
function untar(file: string, into: string): Promise<void> {
  const args = ['-xzf', path.resolve(file), '-C', into, '--numeric-owner', '-p']
  return new Promise((resolve, reject) => {
    tar = execFile('tar', args, (error, _stdout, stderr) => {
      tar = undefined
      const why = String(stderr).trim().split('\n')[0] || error?.message
      if (error) reject(new FriendlyError(`could not unpack ${file}: ${why}`))
      else if (!fs.lstatSync(path.join(into, 'bin/sh'), { throwIfNoEntry: false })) {
        reject(new FriendlyError(`${file} has no bin/sh: not a root filesystem`))
      } else resolve()
    })
  })
}

/** `current` -> dest, replaced atomically: a new symlink under a temporary name, renamed over the old one. */
function pointCurrent(dest: string): void {
  const link = stagingPath('-current')
  fs.symlinkSync(path.basename(dest), link) // relative: still right if MINICONTAINER_HOME is moved
  fs.renameSync(link, path.join(rootfsRoot(), 'current'))
  unfinished.delete(link)
}

// --- Command line --------------------------------------------------------------------------------------------------

const USAGE = `usage: npm run rootfs [-- --version ${DEFAULT_VERSION}] [--arch x86_64|aarch64] [--from FILE] [--force]`

async function main(args: string[]): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      args,
      options: {
        version: { type: 'string' },
        arch: { type: 'string' },
        from: { type: 'string' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (error) {
    throw new FriendlyError((error as Error).message, { hint: USAGE })
  }
  if (!process.stderr.isTTY) kleur.enabled = false // kleur looks at stdout; our messages go to stderr
  if (values.help) {
    console.log(USAGE)
    console.log(`Installs the Alpine minirootfs into ${rootfsRoot()} (MINICONTAINER_HOME), verified by ${pinnedList()}.`)
    return
  }
  await installRootfs({ version: values.version, arch: values.arch, from: values.from, force: values.force })
}

function onSignal(signal: NodeJS.Signals, code: number): void {
  process.once(signal, () => {
    tar?.kill('SIGKILL')
    for (const p of unfinished) fs.rmSync(p, { recursive: true, force: true })
    process.stderr.write(`\nminicontainer rootfs: interrupted (nothing half-installed is left)\n`)
    process.exit(code)
  })
}

if (import.meta.main) {
  onSignal('SIGINT', 130)
  onSignal('SIGTERM', 143)
  main(process.argv.slice(2)).catch((error) => {
    console.error(formatError('minicontainer rootfs', error))
    process.exitCode = 1 // an installer, not the engine: a plain failure status
  })
}
