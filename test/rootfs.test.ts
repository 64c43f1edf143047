// The Alpine rootfs installer, for real: extraction as root, sha512 checks, a download from a local http server
// (offline), interruption, and the messages the engine shows when the rootfs is missing.
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { execa } from 'execa'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { FriendlyError } from '../lib/errors.ts'
import type { InstallOptions } from '../lib/rootfs/install.ts'
import { MARKER, currentRootfs, requireRootfs, rootfsRoot } from '../lib/rootfs/location.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { DEFAULT_VERSION, pinnedSums } from '../lib/rootfs/install.ts'
import { mirrorPath, testTarball } from './helpers/alpine.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const INSTALL = path.join(PROJECT_ROOT, 'lib/rootfs/install.ts')
// Whatever pinned tarball global-setup found or downloaded (3.24.2 where it can be had, else another pinned one).
const T = skipUnlessRootOnLinux() ? undefined : testTarball()
const FIXTURE = T?.file ?? ''
const FIXTURE_NAME = T?.name ?? ''
const FIXTURE_SHA512 = T?.sha512 ?? ''
const VERSION = T?.version ?? ''
const ARCH = T?.arch ?? ''
const INSTALLED_DIR = `alpine-${VERSION}-${ARCH}`
const FIXTURE_PATH = T ? mirrorPath(T) : ''
/** A pinned version of the same architecture that this machine has no tarball of. */
const OTHER_VERSION = [...pinnedSums().keys()].map((n) => /^alpine-minirootfs-([\d.]+)-(\w+)\.tar\.gz$/.exec(n)).find((m) => m && m[2] === ARCH && m[1] !== VERSION)?.[1] ?? '3.1.0'

const temps: string[] = []
const servers: http.Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) server.closeAllConnections(), server.close()
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = fs.mkdtempSync('/var/tmp/minicontainer-rootfs-test-')
  temps.push(dir)
  return dir
}

/** A MINICONTAINER_HOME of the test's own (the location functions read the variable at each call). */
function useHome(): string {
  const home = tempDir()
  const saved = process.env.MINICONTAINER_HOME
  process.env.MINICONTAINER_HOME = home
  onTestFinished(() => void (process.env.MINICONTAINER_HOME = saved))
  return home
}

/** `npm run rootfs -- ARGS`, as a human runs it. */
function cli(home: string, args: string[]) {
  return execa(process.execPath, [INSTALL, ...args], { env: { MINICONTAINER_HOME: home }, reject: false })
}

/** installRootfs(options) in a process of its own (so it can be killed), reporting errors like the CLI. */
function install(home: string, options: InstallOptions, env: Record<string, string> = {}) {
  const script = `
    const { installRootfs } = await import(${JSON.stringify(pathToFileURL(INSTALL).href)})
    const { formatError } = await import(${JSON.stringify(pathToFileURL(path.join(PROJECT_ROOT, 'lib/errors.ts')).href)})
    try { await installRootfs(JSON.parse(process.argv[1])) }
    catch (error) { console.error(formatError('minicontainer rootfs', error)); process.exit(1) }`
  // No cache folders unless the test gives some: a tarball in the developer's cache/ must not hide the download.
  const all = { cacheDirs: [], ...options }
  return execa(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(all)], { env: { MINICONTAINER_HOME: home, ...env }, reject: false })
}

/** A local mirror on 127.0.0.1; records the paths asked for. */
async function mirror(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const paths: string[] = []
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '')
    handler(req, res)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths }
}

function serveFile(body: Buffer) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url !== FIXTURE_PATH) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/gzip' })
    // In pieces, so the progress has something to show.
    for (let at = 0; at < body.length; at += 256 * 1024) res.write(body.subarray(at, at + 256 * 1024))
    res.end()
  }
}

function copyFixture(name = FIXTURE_NAME, corrupt = false): string {
  const file = path.join(tempDir(), name)
  const data = fs.readFileSync(FIXTURE)
  if (corrupt) data[data.length >> 1] ^= 0xff
  fs.writeFileSync(file, data)
  return file
}

function leftovers(home: string): string[] {
  const root = path.join(home, 'rootfs')
  return fs.existsSync(root) ? fs.readdirSync(root).filter((n) => n.startsWith('.staging-')) : []
}

function expectNoStackTrace(stderr: string) {
  expect(stderr).not.toMatch(/\n\s+at /)
  expect(stderr).not.toContain('unexpected error')
}

describe.skipIf(skipUnlessRootOnLinux())('rootfs installer', () => {
  it('global-setup installed the tests\' rootfs', () => {
    expect(process.env.MINICONTAINER_HOME).toBe('/var/tmp/minicontainer-test')
    expect(currentRootfs()).toMatchObject({ version: VERSION, arch: ARCH, sha512: FIXTURE_SHA512 })
    expect(requireRootfs()).toBe(currentRootfs()?.dir)
  })

  it('installs from a local tarball with --from, as root, and points current at it', async () => {
    const home = useHome()
    const result = await cli(home, ['--from', FIXTURE])
    expect(result.stderr).toContain(`installed Alpine ${VERSION} (${ARCH})`)
    expect(result.exitCode).toBe(0)

    const dir = path.join(home, `rootfs/${INSTALLED_DIR}`)
    expect(fs.readlinkSync(path.join(home, 'rootfs/current'))).toBe(INSTALLED_DIR)
    expect(JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8'))).toMatchObject({ version: VERSION, arch: ARCH, sha512: FIXTURE_SHA512 })
    expect(fs.readlinkSync(path.join(dir, 'bin/sh'))).toBe('/bin/busybox')
    expect(fs.statSync(path.join(dir, 'etc/passwd')).uid).toBe(0)
    expect(currentRootfs()).toEqual({ dir, version: VERSION, arch: ARCH, sha512: FIXTURE_SHA512 })
    expect(requireRootfs()).toBe(dir)
    expect(leftovers(home)).toEqual([])
  })

  it('is idempotent; --force reinstalls', async () => {
    const home = useHome()
    expect((await cli(home, ['--from', FIXTURE])).exitCode).toBe(0)
    const marker = path.join(home, `rootfs/${INSTALLED_DIR}`, MARKER)
    const first = fs.readFileSync(marker, 'utf8')

    const again = await cli(home, ['--from', FIXTURE])
    expect(again.exitCode).toBe(0)
    expect(again.stderr).toContain('already installed')
    expect(fs.readFileSync(marker, 'utf8')).toBe(first)

    const forced = await cli(home, ['--from', FIXTURE, '--force'])
    expect(forced.exitCode).toBe(0)
    expect(forced.stderr).toContain(`installed Alpine ${VERSION}`)
    expect(fs.readFileSync(marker, 'utf8')).not.toBe(first)
    expect(fs.readdirSync(path.join(home, 'rootfs')).sort()).toEqual([INSTALLED_DIR, 'current'])
  })

  it('refuses a corrupted tarball: which file, expected vs got, nothing installed', async () => {
    const home = useHome()
    const bad = copyFixture(FIXTURE_NAME, true)
    const result = await cli(home, ['--from', bad])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^minicontainer rootfs: refused ${bad}: sha512 mismatch for ${FIXTURE_NAME}: expected ${FIXTURE_SHA512.slice(0, 16)}\\.{3}, got [0-9a-f]{16}\\.{3}$`, 'm'))
    expectNoStackTrace(result.stderr)
    expect(currentRootfs()).toBeUndefined()
    expect(fs.existsSync(path.join(home, `rootfs/${INSTALLED_DIR}`))).toBe(false)
  })

  it('refuses a tarball whose name is not pinned', async () => {
    const home = useHome()
    const result = await cli(home, ['--from', copyFixture('alpine-latest.tar.gz')])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('unknown file name alpine-latest.tar.gz')
    expect(result.stderr).toContain('hint: pinned: alpine-minirootfs-')
    expectNoStackTrace(result.stderr)
    expect(currentRootfs()).toBeUndefined()
  })

  it('explains bad flags and unpinned versions without a stack trace', async () => {
    const home = tempDir()
    const flag = await cli(home, ['--bogus'])
    expect(flag.exitCode).toBe(1)
    expect(flag.stderr).toContain("Unknown option '--bogus'")
    expect(flag.stderr).toContain('hint: usage: npm run rootfs')
    const version = await cli(home, ['--version', '3.1.0', '--arch', 'x86_64'])
    expect(version.exitCode).toBe(1)
    expect(version.stderr).toContain('no pinned sha512 for Alpine 3.1.0 (x86_64)')
    const arch = await cli(home, ['--arch', 'mips'])
    expect(arch.stderr).toContain('unknown architecture mips')
    for (const r of [flag, version, arch]) expectNoStackTrace(r.stderr)
  })

  it('refuses a MINICONTAINER_HOME inside the project folder', async () => {
    const home = path.join(PROJECT_ROOT, '.minicontainer-test-home')
    const result = await cli(home, ['--from', FIXTURE])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`is inside the project folder`)
    expect(fs.existsSync(home)).toBe(false)
  })

  it('downloads from the mirror (a local http server) with progress, verifies and installs', async () => {
    const home = useHome()
    const server = await mirror(serveFile(fs.readFileSync(FIXTURE)))
    const result = await install(home, { version: VERSION, arch: ARCH }, { MINICONTAINER_ALPINE_MIRROR: server.url })
    expect(result.stderr).toContain(`downloading ${server.url}${FIXTURE_PATH}`)
    expect(result.stderr).toMatch(/downloaded 50% \(.* MB\)/) // stderr is a pipe here: plain percentage lines
    expect(result.stderr).toContain('downloaded 100%')
    expect(result.exitCode).toBe(0)
    expect(server.paths).toEqual([FIXTURE_PATH])
    expect(currentRootfs()?.sha512).toBe(FIXTURE_SHA512)
    expect(leftovers(home)).toEqual([]) // the downloaded tarball is not kept

    // Installed: no second download.
    const again = await install(home, { version: VERSION, arch: ARCH }, { MINICONTAINER_ALPINE_MIRROR: server.url })
    expect(again.stderr).toContain('already installed')
    expect(server.paths).toHaveLength(1)
  })

  it('refuses a download that does not match, and reports HTTP errors', async () => {
    const home = useHome()
    const bad = Buffer.from(fs.readFileSync(FIXTURE))
    bad[1000] ^= 1
    const server = await mirror(serveFile(bad))
    const mismatch = await install(home, { version: VERSION, arch: ARCH }, { MINICONTAINER_ALPINE_MIRROR: server.url })
    expect(mismatch.exitCode).toBe(1)
    expect(mismatch.stderr).toContain(`refused ${server.url}${FIXTURE_PATH}: sha512 mismatch`)
    expect(mismatch.stderr).toContain('hint: the download was damaged')
    expect(leftovers(home)).toEqual([])
    expect(currentRootfs()).toBeUndefined()

    const missing = await mirror((_req, res) => res.writeHead(404).end())
    const notFound = await install(home, { version: VERSION, arch: ARCH }, { MINICONTAINER_ALPINE_MIRROR: missing.url })
    expect(notFound.exitCode).toBe(1)
    expect(notFound.stderr).toContain('HTTP 404')
    expect(notFound.stderr).toContain('hint: offline?')
    expectNoStackTrace(notFound.stderr)
  })

  it('offline: takes the tarball from the cache folder, or without --version a cached other version', async () => {
    const home = useHome()
    const cache = path.dirname(copyFixture())
    const down = await mirror(() => {}) // then closed: connection refused, as offline
    servers.splice(0).forEach((s) => s.close())
    const env = { MINICONTAINER_ALPINE_MIRROR: down.url }

    const exact = await install(home, { version: VERSION, arch: ARCH, cacheDirs: [cache] }, env)
    expect(exact.stderr).toContain(`using ${path.join(cache, FIXTURE_NAME)}`)
    expect(exact.stderr).not.toContain('downloading')
    expect(exact.exitCode).toBe(0)

    fs.rmSync(path.join(home, 'rootfs'), { recursive: true })
    const noVersion = await install(home, { arch: ARCH, cacheDirs: [cache] }, env)
    expect(noVersion.exitCode).toBe(0)
    expect(currentRootfs()?.version).toBe(VERSION)
    if (VERSION === DEFAULT_VERSION) {
      // The default version is in the cache: taken from there, no download tried.
      expect(noVersion.stderr).toContain(`using ${path.join(cache, FIXTURE_NAME)}`)
      expect(noVersion.stderr).not.toContain('could not download')
    } else {
      // Offline without --version: a cached pinned tarball of another version is better than nothing.
      expect(noVersion.stderr).toContain('could not download')
      expect(noVersion.stderr).toContain(`using the cached ${path.join(cache, FIXTURE_NAME)} (Alpine ${VERSION}) instead`)
    }

    // --version insists: no fallback.
    const insist = await install(home, { version: OTHER_VERSION, arch: ARCH, cacheDirs: [cache] }, env)
    expect(insist.exitCode).toBe(1)
    expect(insist.stderr).toContain('could not download')
    expect(insist.stderr).toContain(`Alpine ${VERSION} stays installed`)
  })

  it('an install killed mid-download is not taken as installed, and is cleaned up by the next run', async () => {
    const home = useHome()
    const body = fs.readFileSync(FIXTURE)
    let sent!: () => void
    const halfSent = new Promise<void>((resolve) => (sent = resolve))
    const server = await mirror((_req, res) => {
      res.writeHead(200, { 'content-length': body.length })
      res.write(body.subarray(0, body.length >> 1), () => sent()) // ...and the rest never comes
    })
    const child = install(home, { version: VERSION, arch: ARCH }, { MINICONTAINER_ALPINE_MIRROR: server.url })
    await halfSent
    await expect.poll(() => leftovers(home).length).toBe(1)
    child.kill('SIGKILL')
    await child
    // Also what another kind of interruption could leave: a folder without the marker, with current pointing at it.
    const half = path.join(home, `rootfs/${INSTALLED_DIR}`)
    fs.mkdirSync(path.join(half, 'bin'), { recursive: true })
    fs.symlinkSync('/bin/busybox', path.join(half, 'bin/sh'))
    fs.symlinkSync(INSTALLED_DIR, path.join(home, 'rootfs/current'))

    expect(currentRootfs()).toBeUndefined()
    expect(() => requireRootfs()).toThrow(/no Alpine rootfs installed/)

    const next = await cli(home, ['--from', FIXTURE])
    expect(next.exitCode).toBe(0)
    expect(next.stderr).toContain(`installed Alpine ${VERSION}`)
    expect(leftovers(home)).toEqual([])
    expect(currentRootfs()?.dir).toBe(half)
    expect(fs.existsSync(path.join(half, 'etc/alpine-release'))).toBe(true)
  })

  it('the CLI cleans up after Ctrl-C / SIGTERM', async () => {
    const home = useHome()
    const server = await mirror((_req, res) => void res.writeHead(200, { 'content-length': 1e6 }).write('x'))
    // The other architecture: a tarball nobody has in a cache folder, so the CLI does download.
    const child = execa(process.execPath, [INSTALL, '--version', VERSION, '--arch', ARCH === 'aarch64' ? 'x86_64' : 'aarch64'], {
      env: { MINICONTAINER_HOME: home, MINICONTAINER_ALPINE_MIRROR: server.url },
      reject: false,
    })
    await expect.poll(() => leftovers(home).length).toBe(1)
    child.kill('SIGTERM')
    const result = await child
    expect(result.exitCode).toBe(143)
    expect(result.stderr).toContain('interrupted (nothing half-installed is left)')
    expect(leftovers(home)).toEqual([])
  })
})

describe('requireRootfs', () => {
  it('without an install: says so, and how to install (online and offline)', () => {
    const home = useHome()
    try {
      requireRootfs()
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(FriendlyError)
      expect((error as FriendlyError).message).toBe(`no Alpine rootfs installed (nothing complete at ${path.join(home, 'rootfs/current')})`)
      expect((error as FriendlyError).hint).toContain('npm run rootfs')
      expect((error as FriendlyError).hint).toContain('npm run rootfs -- --from FILE')
    }
    expect(rootfsRoot()).toBe(path.join(home, 'rootfs'))
  })

  it('accepts an explicit dir with a bin/sh (even a symlink only valid inside), and says what is missing otherwise', () => {
    const dir = tempDir()
    expect(() => requireRootfs(path.join(dir, 'nope'))).toThrow(`rootfs ${path.join(dir, 'nope')} does not exist`)
    fs.writeFileSync(path.join(dir, 'file.tar.gz'), '')
    expect(() => requireRootfs(path.join(dir, 'file.tar.gz'))).toThrow('is not a directory')
    expect(() => requireRootfs(dir)).toThrow(`rootfs ${dir} has no bin/sh`)
    fs.mkdirSync(path.join(dir, 'bin'))
    fs.symlinkSync('/no/such/busybox', path.join(dir, 'bin/sh'))
    expect(requireRootfs(dir)).toBe(dir)
  })

})
