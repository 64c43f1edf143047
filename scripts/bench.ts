// `npm run bench [-- --quick] [-- --runs N] [-- --no-check]`: how fast does a container start?
//
// Side by side, in ONE run, interleaved (a noisy machine slows every row alike), on the same Alpine rootfs:
//   - step 04's solution: `node solutions/04-network/main.ts run --rootfs ROOTFS /bin/true`
//   - step 05's (pivot_root instead of chroot) and step 06's (and an overlay with a layer of its own, made and removed)
//   - step 07's (and a cgroup namespace, read-only /sys and cgroupfs, masked /proc, capabilities dropped, seccomp)
//   - the same, started with NODE_COMPILE_CACHE already in its environment (what a caller such as bin/node could set)
//   - util-linux `unshare --fork --pid --mount --uts --ipc --net --root=ROOTFS /bin/true`: the floor, no runtime at all
//   - `runc run` (the reference runtime) of a generated OCI bundle whose rootfs is the same folder
//   - `node -e 0`: ONE Node start-up, for reference (the engine needs two)
// then the learner's check loop: `npm run check step-04 -- --solution --json` and step 06's, whole and their slowest check.
// Prints a markdown table (medians, ratio to runc) with the machine it ran on.
//
// It is a benchmark, not a timed test: --quick (CI) does few runs and asserts nothing about times.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseCommandLine } from '../lib/args.ts'
import { FriendlyError, formatError } from '../lib/errors.ts'
import { cgroupVersion } from '../lib/cgroupfs.ts'
import { containerHostProblem } from '../lib/host-requirements.ts'
import { requireRootfs } from '../lib/rootfs/location.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'

interface Options {
  quick: boolean
  warmup: number
  runs: number
  checkRuns: number
}

const USAGE = 'usage: npm run bench [-- --quick] [--runs N] [--warmup N] [--check-runs N] [--no-check]'

function parseOptions(argv: string[]): Options {
  const { values } = parseCommandLine(argv, {
    quick: { type: 'boolean' }, runs: { type: 'string' }, warmup: { type: 'string' }, 'check-runs': { type: 'string' }, 'no-check': { type: 'boolean' },
  }, { usage: USAGE })
  const quick = values.quick ?? false
  return {
    quick,
    warmup: values.warmup === undefined ? (quick ? 1 : 3) : positive('--warmup', values.warmup, 0),
    runs: values.runs === undefined ? (quick ? 5 : 20) : positive('--runs', values.runs),
    checkRuns: values['no-check'] ? 0 : values['check-runs'] === undefined ? (quick ? 1 : 3) : positive('--check-runs', values['check-runs'], 0),
  }
}

function positive(flag: string, text: string | undefined, min = 1): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) fail(`${flag} needs a whole number >= ${min}`)
  return n
}

/** Thrown for anything the bench cannot measure: printed as one line, after the clean-up ran. */
class BenchError extends FriendlyError {
  constructor(message: string) {
    super(message, { exitCode: 1 })
  }
}

function fail(message: string): never {
  throw new BenchError(message)
}

// ---- Measuring one command ------------------------------------------------------------------------

interface Contender {
  name: string
  argv: string[]
  env?: NodeJS.ProcessEnv
  wall: number[]
  cpu: number[]
}

/**
 * CPU time (user + system, ms) of this process's waited-for children so far: cutime + cstime in
 * /proc/self/stat. Counts the whole tree a command started (runc's init, the engine's init), in 10 ms ticks.
 */
function childrenCpuMs(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // After "pid (comm) ", field 3 (state) is index 0: cutime is field 16, cstime field 17.
  return (Number(fields[13]) + Number(fields[14])) * 10
}

function runOnce(contender: Contender, record: boolean): void {
  const cpuBefore = childrenCpuMs()
  const start = process.hrtime.bigint()
  const result = spawnSync(contender.argv[0]!, contender.argv.slice(1), { env: contender.env ?? process.env, encoding: 'utf8', timeout: 60_000 })
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6
  const cpuMs = childrenCpuMs() - cpuBefore
  if (result.status !== 0) {
    fail(`${contender.name} failed (${result.error?.message ?? `exit ${result.status}, signal ${result.signal}`}): ${contender.argv.join(' ')}\n${result.stderr}`)
  }
  if (record) {
    contender.wall.push(wallMs)
    contender.cpu.push(cpuMs)
  }
}

/** Round after round, every contender once per round, in a rotating order: no one always goes first. */
function interleave(contenders: Contender[], rounds: number, record: boolean): void {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) runOnce(contenders[(round + i) % contenders.length]!, record)
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length

// ---- runc: an OCI bundle around the same rootfs ---------------------------------------------------

interface Runc {
  argv: string[]
  cleanup(): void
}

/**
 * `runc spec` gives the default config (namespaces pid, net, ipc, uts, mount, cgroup; a read-only root);
 * only the rootfs, the command and "no terminal" change. runc's state goes into the temp folder too, so
 * nothing is left in /run/runc. `runc run` deletes the container (and its cgroups) when the command exits.
 */
function prepareRunc(rootfs: string): Runc {
  const version = spawnSync('runc', ['--version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) fail('runc is not installed: apt-get install runc (the reference runtime)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicontainer-bench-'))
  const bundle = path.join(dir, 'bundle')
  const state = path.join(dir, 'state')
  fs.mkdirSync(bundle)
  const spec = spawnSync('runc', ['spec', '--bundle', bundle], { encoding: 'utf8' })
  if (spec.status !== 0) fail(`runc spec failed: ${spec.stderr}`)
  const configFile = path.join(bundle, 'config.json')
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'))
  config.root.path = rootfs
  config.process.args = ['/bin/true']
  config.process.terminal = false
  config.hostname = 'container'
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2))
  const id = `minicontainer-bench-${process.pid}`
  return {
    argv: ['runc', '--root', state, 'run', '--bundle', bundle, id],
    cleanup() {
      // Only if a run was interrupted: a finished `runc run` has deleted its container already.
      spawnSync('runc', ['--root', state, 'delete', '--force', id], { stdio: 'ignore' })
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

// ---- The learner's check loop ---------------------------------------------------------------------

interface CheckTiming {
  wallMs: number
  passed: number
  failed: number
  /** durationMs of each check, by id. */
  checks: Map<string, number>
}

/** `npm run check STEP -- --solution --json`, timed as a learner waits for it (npm and bin/node included). */
function timeCheck(step: string): CheckTiming {
  const start = process.hrtime.bigint()
  const result = spawnSync('npm', ['run', '--silent', 'check', step, '--', '--solution', '--json'], {
    cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024,
  })
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6
  let report: { passed: number; failed: number; checks: { id: string; durationMs: number }[] }
  try {
    report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{')))
  } catch {
    fail(`npm run check printed no JSON report (exit ${result.status}):\n${result.stderr}`)
  }
  return { wallMs, passed: report.passed, failed: report.failed, checks: new Map(report.checks.map((c) => [c.id, c.durationMs])) }
}

// ---- The machine ----------------------------------------------------------------------------------

function machine(): string {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU'
  const cgroup = `v${cgroupVersion()}`
  const runc = /runc version (\S+)/.exec(spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?'
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ')
  return `${model}, ${os.availableParallelism()} cores, Linux ${os.release()}, cgroup ${cgroup}, Node ${process.versions.node}, runc ${runc}; load average at start ${load}`
}

// ---- Main ------------------------------------------------------------------------------------------

function main(): void {
  const options = parseOptions(process.argv.slice(2))
  const problem = containerHostProblem()
  if (problem) fail(`${problem.problem}: ${problem.fix}`)
  const rootfs = requireRootfs()
  const engine = path.join(PROJECT_ROOT, 'solutions', '04-network', 'main.ts')
  const engineOf = (step: string) => path.join(PROJECT_ROOT, 'solutions', step, 'main.ts')
  const runc = prepareRunc(rootfs)
  const node = process.execPath
  // The plain engine row runs as a learner types it: no compile cache in the environment, so the engine
  // enables it itself (main.ts), after Node has stripped main.ts's types.
  // The second row has it from the start (same folder as main.ts's), as its caller could set it.
  const { NODE_COMPILE_CACHE: _ignored, ...plainEnv } = process.env
  const cachedEnv = { ...plainEnv, NODE_COMPILE_CACHE: path.join(PROJECT_ROOT, 'node_modules', '.cache', 'node-compile-cache') }
  const contenders: Contender[] = [
    { name: 'minicontainer (step 04) `run /bin/true`', argv: [node, engine, 'run', '--rootfs', rootfs, '/bin/true'], env: plainEnv, wall: [], cpu: [] },
    { name: 'minicontainer, NODE_COMPILE_CACHE set by the caller', argv: [node, engine, 'run', '--rootfs', rootfs, '/bin/true'], env: cachedEnv, wall: [], cpu: [] },
    { name: 'minicontainer (step 05: pivot_root) `run /bin/true`', argv: [node, engineOf('05-pivot-root'), 'run', '--rootfs', rootfs, '/bin/true'], env: plainEnv, wall: [], cpu: [] },
    { name: 'minicontainer (step 06: + overlay and its layer) `run /bin/true`', argv: [node, engineOf('06-overlayfs'), 'run', '--rootfs', rootfs, '/bin/true'], env: plainEnv, wall: [], cpu: [] },
    { name: 'minicontainer (step 07: + capabilities, seccomp, cgroupns, /proc /sys locked) `run /bin/true`', argv: [node, engineOf('07-security'), 'run', '--rootfs', rootfs, '/bin/true'], env: plainEnv, wall: [], cpu: [] },
    { name: '`unshare --fork --pid --mount --uts --ipc --net --root` (floor)', argv: ['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--net', `--root=${rootfs}`, '/bin/true'], wall: [], cpu: [] },
    { name: '`runc run` (reference)', argv: runc.argv, wall: [], cpu: [] },
    { name: '`node -e 0`: one Node start-up', argv: [node, '-e', '0'], env: plainEnv, wall: [], cpu: [] },
  ]
  const host = machine()
  const CHECKED = ['step-04', 'step-06'] as const
  const check = new Map<string, CheckTiming[]>(CHECKED.map((step) => [step, []]))
  try {
    console.error(`bench: ${options.warmup} warm-up + ${options.runs} measured rounds of ${contenders.length} commands, interleaved...`)
    interleave(contenders, options.warmup, false)
    interleave(contenders, options.runs, true)
    for (let i = 0; i < options.checkRuns; i++) {
      for (const step of CHECKED) {
        console.error(`bench: npm run check ${step} -- --solution (${i + 1}/${options.checkRuns})...`)
        check.get(step)!.push(timeCheck(step))
      }
    }
  } finally {
    runc.cleanup()
  }

  const reference = median(contenders.find((c) => c.argv === runc.argv)!.wall)
  const lines = [
    `Container start-up, \`/bin/true\` in the same Alpine rootfs: ${options.runs} interleaved runs each after ${options.warmup} warm-up round(s).`,
    `Machine: ${host}.`,
    '',
    '| command | median wall | ratio to runc | CPU (user+sys, mean) |',
    '|---|---:|---:|---:|',
    ...contenders.map((c) => `| ${c.name} | ${median(c.wall).toFixed(1)} ms | ${(median(c.wall) / reference).toFixed(2)}x | ${mean(c.cpu).toFixed(0)} ms |`),
  ]
  const runs = check.get(CHECKED[0])!.length
  if (runs) lines.push('', `| learner's check loop (${runs} run${runs > 1 ? 's' : ''} each) | median wall |`, '|---|---:|')
  for (const [step, timings] of check) {
    if (!timings.length) continue
    const failed = timings.some((c) => c.failed > 0) ? ` (FAILED: ${timings.map((c) => c.failed).join(', ')} check(s) failed)` : ''
    // Each check's median over the runs, then the largest.
    const slowest = [...timings[0]!.checks.keys()]
      .map((id) => ({ id, ms: median(timings.map((c) => c.checks.get(id) ?? 0)) }))
      .sort((a, b) => b.ms - a.ms)[0]
    lines.push(
      `| \`npm run check ${step} -- --solution\` (${timings[0]!.passed + timings[0]!.failed} checks)${failed} | ${(median(timings.map((c) => c.wallMs)) / 1000).toFixed(2)} s |`,
      ...(slowest ? [`| its slowest single check: \`${slowest.id}\` | ${(slowest.ms / 1000).toFixed(2)} s |`] : []),
    )
  }
  console.log(lines.join('\n'))
}

try {
  main()
} catch (error) {
  if (!(error instanceof FriendlyError)) throw error
  console.error(formatError('bench', error).split('\n')[0])
  process.exitCode = error.exitCode
}
