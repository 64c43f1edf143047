#!/usr/bin/env node
// The way in of every npm script: `node bin/launch.mjs FILE.ts [ARG...]` runs FILE.ts with a Node.js that runs the
// project's TypeScript itself. Plain JavaScript that any Node >= 18 runs, on Linux, macOS and Windows, so the npm
// scripts need no POSIX shell (cmd.exe, PowerShell, zsh and sh run them alike).
//
// 1. Picks the Node: MINICONTAINER_NODE if set; else the Node running this file when it satisfies package.json's
//    `engines.node` (THE minimum version: read from there, written nowhere else); else the one installed in
//    .tools/node; else installs one there, once, from the npm registry (Node 24, the LTS the VM and CI run).
// 2. Runs `npm ci` when node_modules is missing or older than package-lock.json (MINICONTAINER_SKIP_NPM_CI=1: not).
// 3. Sets NODE_COMPILE_CACHE (lib/compile-cache.ts): the stripped and compiled .ts files are kept on disk.
// 4. Runs FILE.ts [ARG...] as `node FILE.ts ARG...` would, so its exit status and signals are its own. With the
//    Node running this file: in this same process, the way Node's command line starts a main module (saves one
//    Node start-up, ~25 ms). With another Node: that Node replaces this process (process.execve: POSIX, Node >=
//    22.15), or where it cannot (Windows, an old Node) runs as a child: SIGINT/SIGTERM/SIGHUP passed on, its exit
//    status passed back. Node options before FILE (`node bin/launch.mjs -p 1`) go to a new Node process.
//
// A problem a person can fix is one line on stderr saying what to do, and exit status 125; never a stack trace.
// MINICONTAINER_TOOLS_DIR moves .tools (the tests install into a temporary one).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import Module from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const PREFERRED_MAJOR = 24 // the Node installed when the machine's cannot run the project: the LTS of the VM and CI
const EXIT_FAILED = 125
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP']
const isWindows = process.platform === 'win32'

/** A problem the person at the keyboard can fix: printed as one line, no stack trace. */
class LaunchError extends Error {}

/** One line on stderr: written synchronously, and without opening process.stderr (the fds stay as they are). */
function say(line) {
  try {
    fs.writeSync(2, `minicontainer: ${line}\n`)
  } catch {
    // stderr is closed: nobody to tell
  }
}
/** `file` as a person would type it from here: relative when it is below the current folder. */
function shown(file) {
  const relative = path.relative(process.cwd(), file)
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file
}

// --- which Node ------------------------------------------------------------------------------------------------

/** package.json's `engines.node`: the one place the minimum Node version is written. */
function enginesRange() {
  const file = path.join(ROOT, 'package.json')
  let range
  try {
    range = JSON.parse(fs.readFileSync(file, 'utf8')).engines?.node
  } catch (error) {
    throw new LaunchError(`cannot read ${file} (${error.code ?? error.message}): run this from a complete copy of the repository`)
  }
  if (typeof range !== 'string') throw new LaunchError(`${file} has no "engines": { "node": ... }: restore it from the repository`)
  return range
}

const parseVersion = (text) => /^v?(\d+)\.(\d+)\.(\d+)/.exec(text)?.slice(1, 4).map(Number)

function compareVersions(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

/**
 * Does `version` satisfy `range`? npm's range syntax, as far as engines.node needs it: alternatives joined by `||`,
 * each a list of comparators (>=, >, <=, <, =, ^, ~) on full versions, e.g. `^22.18.0 || >=24.3.0`.
 */
export function satisfies(version, range) {
  const v = parseVersion(version)
  if (!v) return false
  return range.split('||').some((alternative) =>
    alternative.trim().split(/\s+/).every((comparator) => {
      const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+\.\d+\.\d+)$/.exec(comparator)
      if (!match) throw new LaunchError(`package.json "engines.node" reads "${range}": write it as versions with >=, <, ^ or ~, joined by ||, e.g. "^22.18.0 || >=24.3.0"`)
      const w = parseVersion(match[2])
      const c = compareVersions(v, w)
      switch (match[1] ?? '=') {
        case '>=': return c >= 0
        case '>': return c > 0
        case '<=': return c <= 0
        case '<': return c < 0
        case '^': return c >= 0 && v[0] === w[0]
        case '~': return c >= 0 && v[0] === w[0] && v[1] === w[1]
        default: return c === 0
      }
    }),
  )
}

/** The version a Node binary reports (`--version` exits before the JavaScript engine starts: a few ms). */
function versionOf(node) {
  const result = spawnSync(node, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  return result.status === 0 ? result.stdout.trim() : undefined
}

/** The npm registry's package with this platform's Node binary (the ones the `node` package installs). */
function nodePackageName() {
  const platform = isWindows ? 'win' : process.platform
  const arch = isWindows && process.arch === 'ia32' ? 'x86' : process.arch
  const prefix = process.platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node'
  return `${prefix}-${platform}-${arch}`
}

const toolsDir = () => process.env.MINICONTAINER_TOOLS_DIR || path.join(ROOT, '.tools')

/** The Node installed under `prefix` by installNode(): { node, version }, or undefined. */
function installedNode(prefix) {
  const packageDir = path.join(prefix, 'node_modules', nodePackageName())
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'))
    const node = path.join(packageDir, manifest.bin?.node ?? '')
    if (fs.statSync(node).isFile()) return { node, version: manifest.version }
  } catch {
    // not installed, or half: installNode() replaces it
  }
  return undefined
}

/** Node for this project: { node, version } with node a path, or throws a LaunchError saying what to do. */
function pickNode(range) {
  const chosen = process.env.MINICONTAINER_NODE
  if (chosen) {
    const version = versionOf(chosen)
    if (version && satisfies(version, range)) return { node: chosen, version }
    throw new LaunchError(`MINICONTAINER_NODE=${chosen} is ${version ? `Node ${version}` : 'not a Node.js that runs'}, and the project needs Node ${range} (package.json engines): point it at another one, or unset it`)
  }
  if (satisfies(process.version, range)) return { node: process.execPath, version: process.version }
  const prefix = path.join(toolsDir(), 'node')
  const installed = installedNode(prefix)
  if (installed && satisfies(installed.version, range)) return installed
  return installNode(prefix, range)
}

// --- npm -------------------------------------------------------------------------------------------------------

/**
 * npm's own script (npm-cli.js), run with `node` rather than through `npm`/`npm.cmd`: Windows cannot start a .cmd
 * without a shell. The npm that ran this script first, then the one installed beside this Node, then PATH's.
 */
function findNpmCli() {
  const candidates = []
  const fromNpmRun = process.env.npm_execpath
  if (fromNpmRun && /npm-cli\.c?js$/.test(fromNpmRun)) candidates.push(fromNpmRun)
  const nodeDir = path.dirname(process.execPath)
  candidates.push(path.join(nodeDir, 'node_modules', 'npm', 'bin', 'npm-cli.js')) // Windows installer, nvm-windows
  candidates.push(path.join(nodeDir, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')) // Unix tarball, nvm
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    if (isWindows) {
      if (fs.existsSync(path.join(dir, 'npm.cmd'))) candidates.push(path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js'))
    } else {
      try {
        candidates.push(fs.realpathSync(path.join(dir, 'npm'))) // a link to .../npm/bin/npm-cli.js
      } catch {
        // no npm here
      }
    }
  }
  return candidates.find((file) => /npm-cli\.c?js$/.test(file) && fs.existsSync(file))
}

/** The environment with `dir` first on PATH (Windows spells it Path). */
function withPathFirst(env, dir) {
  const key = Object.keys(env).find((name) => name.toUpperCase() === 'PATH') ?? 'PATH'
  return { ...env, [key]: env[key] ? `${dir}${path.delimiter}${env[key]}` : dir }
}

const NETWORK_CODES = /^(E(CONNREFUSED|CONNRESET|NOTFOUND|TIMEDOUT|AI_AGAIN|HOSTUNREACH|NETUNREACH|PROTO)|UNABLE_TO_|SELF_SIGNED_CERT|CERT_|DEPTH_ZERO)/

/** npm's failure in a few words: its error code and first message line, and what to do about the usual causes. */
function npmFailure(output, status) {
  const lines = output.split(/\r?\n/).map((line) => /^npm (?:error|ERR!) ?(.*)$/.exec(line)?.[1]).filter((line) => line !== undefined)
  const code = lines.map((line) => /^code (\S+)/.exec(line)?.[1]).find(Boolean)
  const message = lines.find((line) => line && !/^(code|errno|syscall|path|dest) |^A complete log|^Log files were not written/.test(line))
  const log = /A complete log of this run can be found in:?\s*(\S+)/.exec(output)?.[1]
  const what = [code, message].filter(Boolean).join(': ') || `npm exited with status ${status}`
  let todo
  if (code && NETWORK_CODES.test(code)) {
    todo = 'check the network, or the registry and proxy npm uses (npm config get registry; npm config get https-proxy)'
  } else if ((code === 'EACCES' || code === 'EPERM') && isWindows) {
    todo = 'a file is in use: close what may hold it (an editor, another terminal, a virus scan), then run the command again'
  } else if (code === 'EACCES' || code === 'EPERM') {
    todo = 'the folder belongs to another user (a command once run with sudo?): give it back to yourself, e.g. sudo chown -R "$USER" .'
  } else if (code === 'ENOSPC') {
    todo = 'the disk is full: free some space'
  }
  return { what: what.length > 240 ? `${what.slice(0, 240)}...` : what, code, todo, log }
}

/** Runs npm with `node`; captures its output, shown in one line only when it fails. */
function runNpm(node, args, options) {
  const npmCli = findNpmCli()
  if (!npmCli) return { missing: true }
  const result = spawnSync(node, [npmCli, ...args], {
    ...options,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    windowsHide: true,
  })
  if (result.error) return { failure: { what: `could not start npm (${result.error.code ?? result.error.message})` } }
  if (result.status !== 0) return { failure: npmFailure(`${result.stdout}\n${result.stderr}`, result.status ?? result.signal) }
  return {}
}

// --- installing Node --------------------------------------------------------------------------------------------

/**
 * Installs the newest Node `PREFERRED_MAJOR`.x that satisfies `range` (else the newest that does: the registry lacks
 * some versions for some platforms, e.g. Node 24 >= 24.3 for Apple Silicon) into `prefix`, from the npm registry's
 * per-platform package: a plain binary, no install script to run. Installed beside, then moved into place, so an
 * interrupted install leaves nothing half-done.
 */
function installNode(prefix, range) {
  const pkg = nodePackageName()
  const preferred = range.split('||').map((alternative) => `${alternative.trim()} >=${PREFERRED_MAJOR}.0.0 <${PREFERRED_MAJOR + 1}.0.0`).join(' || ')
  say(`Node ${process.version} cannot run this project's TypeScript (it needs Node ${range}): installing Node ${PREFERRED_MAJOR} from the npm registry into ${shown(prefix)} (once, about 30 MB)...`)
  const partial = `${prefix}.partial-${process.pid}`
  const cleanUp = () => fs.rmSync(partial, { recursive: true, force: true, maxRetries: 5 })
  let result
  try {
    for (const spec of [preferred, range]) {
      cleanUp()
      fs.mkdirSync(partial, { recursive: true })
      result = runNpm(process.execPath, ['install', '--prefix', partial, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', `${pkg}@${spec}`], { cwd: partial })
      if (result.missing || !result.failure || result.failure.code !== 'ETARGET') break // ETARGET: no such version
    }
    if (result.missing) {
      throw new LaunchError(`Node ${process.version} cannot run this project's TypeScript (it needs Node ${range}), and there is no npm to install one with: install Node ${PREFERRED_MAJOR} LTS (https://nodejs.org), or set MINICONTAINER_NODE=/path/to/node`)
    }
    if (result.failure) {
      const { what, todo, log } = result.failure
      throw new LaunchError(`could not install Node ${PREFERRED_MAJOR} from the npm registry (${what}). What to do: ${todo ? `${todo}; or ` : ''}install Node ${PREFERRED_MAJOR} LTS yourself (https://nodejs.org) and run the command again${log ? ` (npm's log: ${log})` : ''}`)
    }
    const installed = installedNode(partial)
    if (!installed || !satisfies(installed.version, range) || !versionOf(installed.node)) {
      throw new LaunchError(`the npm registry's ${pkg} ${installed ? `(v${installed.version}) ` : ''}does not run here or is not Node ${range}: install Node ${PREFERRED_MAJOR} LTS yourself (https://nodejs.org), or set MINICONTAINER_NODE=/path/to/node`)
    }
    if (parseVersion(installed.version)[0] !== PREFERRED_MAJOR) {
      say(`the npm registry has no Node ${PREFERRED_MAJOR} for this platform (${pkg}) that runs this project: installed Node ${installed.version}`)
    }
    // Another launcher may have finished the same install meanwhile: then keep its copy.
    const existing = installedNode(prefix)
    if (existing && satisfies(existing.version, range)) return existing
    fs.rmSync(prefix, { recursive: true, force: true, maxRetries: 5 })
    renameWithRetries(partial, prefix)
    return installedNode(prefix)
  } catch (error) {
    if (error instanceof LaunchError || !error.code) throw error
    throw new LaunchError(`could not install Node into ${shown(prefix)} (${error.code}: ${error.message}): make that folder writable (a command once run with sudo?), or set MINICONTAINER_TOOLS_DIR to one that is`)
  } finally {
    try {
      cleanUp()
    } catch {
      // left for the next install to remove
    }
  }
}

/** Windows: a virus scanner holds a new .exe for a moment, and renaming its folder fails meanwhile (EPERM/EBUSY). */
function renameWithRetries(from, to) {
  for (let attempt = 1; ; attempt++) {
    try {
      return fs.renameSync(from, to)
    } catch (error) {
      if (!isWindows || attempt >= 20 || !['EPERM', 'EBUSY', 'EACCES'].includes(error.code)) throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250) // a synchronous sleep
    }
  }
}

// --- npm packages -----------------------------------------------------------------------------------------------

/** `npm ci` when node_modules is missing or older than package-lock.json (npm writes its .package-lock.json last). */
function ensurePackages(node, env) {
  const mtime = (file) => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs
  const installed = mtime(path.join(ROOT, 'node_modules', '.package-lock.json'))
  const wanted = mtime(path.join(ROOT, 'package-lock.json'))
  if (installed !== undefined && (wanted === undefined || installed >= wanted)) return
  say('installing the npm packages (npm ci)...')
  // npm runs on the chosen Node (first on PATH, for the packages' own scripts), so `engines` is checked against it.
  const result = runNpm(node, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: ROOT, env: withPathFirst(env, path.dirname(node)) })
  if (result.missing) throw new LaunchError(`no npm to install the packages with: install npm (it comes with Node.js, https://nodejs.org), then run npm ci in ${ROOT}`)
  if (result.failure) {
    const { what, code, todo } = result.failure
    const fix = code === 'EUSAGE' ? 'package.json and package-lock.json disagree: run npm install to bring package-lock.json up to date' : (todo ?? `run npm ci in ${ROOT} to see npm's whole output`)
    throw new LaunchError(`installing the npm packages failed (npm ci: ${what}). What to do: ${fix}`)
  }
}

// --- running it -------------------------------------------------------------------------------------------------

/**
 * Runs `node ENTRY ARG...` in this process: what Node's own command line does after start-up (Module.runMain
 * loads the main module, ESM or CommonJS; import.meta.main is true for it). Not documented, but how Node runs every
 * main module; test/launcher.test.ts checks import.meta.main, the arguments, the exit status and signals.
 */
function runInProcess(entry, args, cacheDir) {
  process.env.NODE_COMPILE_CACHE = cacheDir
  Module.enableCompileCache(cacheDir)
  process.argv = [process.argv[0], entry, ...args]
  Module.runMain(entry)
}

/** Runs `node ARG...` as a child: signals passed on, its exit status (or signal) becomes ours. */
function runAsChild(node, args, env) {
  const child = spawn(node, args, { stdio: 'inherit', env, shell: false })
  // Windows: Ctrl-C reaches every process of the console, the child too, and kill() there would end the child at
  // once instead of letting it clean up: only stay alive until it is done.
  const forward = (signal) => {
    if (!isWindows && child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
  const signals = isWindows ? ['SIGINT', 'SIGBREAK', 'SIGHUP'] : FORWARDED_SIGNALS
  for (const signal of signals) process.on(signal, forward)
  child.on('error', (error) => {
    say(`could not start ${node} (${error.code ?? error.message}): remove ${shown(path.join(toolsDir(), 'node'))} and run the command again, or set MINICONTAINER_NODE=/path/to/node`)
    process.exit(EXIT_FAILED)
  })
  child.on('exit', (code, signal) => {
    for (const name of signals) process.removeListener(name, forward)
    if (signal && !isWindows) process.kill(process.pid, signal) // end the way the child ended: the caller sees 128 + n
    else process.exit(code ?? 1)
  })
}

/**
 * Everything before the program starts. Returns an exit status, or the function that starts the program: called
 * outside the launcher's error handling, so the program's own errors stay the program's.
 */
function prepare(args) {
  if (args.length === 0) {
    say('usage: node bin/launch.mjs FILE.ts [ARG...]   (what the npm scripts in package.json run)')
    return 2
  }
  // FILE (not a Node option): it must exist, or Node's answer would be a stack trace.
  const entry = args[0].startsWith('-') ? undefined : path.resolve(args[0])
  if (entry && !fs.existsSync(entry)) throw new LaunchError(`no such file: ${args[0]} (in ${process.cwd()})`)
  const range = enginesRange()
  const { node } = pickNode(range)
  let env = { ...process.env }
  const cacheDir = env.NODE_COMPILE_CACHE || path.join(ROOT, 'node_modules', '.cache', 'node-compile-cache') // as lib/compile-cache.ts
  env.NODE_COMPILE_CACHE = cacheDir
  // A Node from .tools (or MINICONTAINER_NODE) is the `node` of everything the program starts, too.
  if (node !== process.execPath) env = withPathFirst(env, path.dirname(node))
  if (process.env.MINICONTAINER_SKIP_NPM_CI !== '1') ensurePackages(node, env)
  if (entry && node === process.execPath && typeof Module.runMain === 'function') return () => runInProcess(entry, args.slice(1), cacheDir)
  if (typeof process.execve === 'function' && !isWindows) {
    return () => {
      process.emitWarning = () => {} // an "experimental feature" notice would be this process's last words
      try {
        process.execve(node, [node, ...args], env)
      } catch (error) {
        say(`could not start ${node} (${error.code ?? error.message}): remove ${shown(path.join(toolsDir(), 'node'))} and run the command again, or set MINICONTAINER_NODE=/path/to/node`)
        process.exit(EXIT_FAILED)
      }
    }
  }
  return () => runAsChild(node, args, env)
}

/** Run as a program, not imported (lib/node-version.ts and the tests import satisfies()). */
function isMain() {
  if (!process.argv[1]) return false
  const same = (a, b) => (isWindows ? a.toLowerCase() === b.toLowerCase() : a === b)
  try {
    return same(fs.realpathSync(process.argv[1]), fs.realpathSync(fileURLToPath(import.meta.url)))
  } catch {
    return false
  }
}

if (isMain()) {
  let outcome
  try {
    outcome = prepare(process.argv.slice(2))
  } catch (error) {
    if (error instanceof LaunchError) say(error.message)
    else say(`bin/launch.mjs failed: ${error?.message ?? error} (a bug: please report it${process.env.MINICONTAINER_DEBUG ? `)\n${error?.stack}` : '; MINICONTAINER_DEBUG=1 shows where)'}`)
    outcome = EXIT_FAILED
  }
  if (typeof outcome === 'function') outcome()
  else process.exitCode = outcome
}
