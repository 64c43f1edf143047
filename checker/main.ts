// `npm run check step-03 [-- --solution|--json|--verbose|--only ID|--watch]`
// Runs the learner's engine for real and checks it from inside and from the host; see CONTRIBUTING.md.
import fs from 'node:fs'
import path from 'node:path'
import kleur from 'kleur'
import { STEPS, findStep, projectPath, stepDir, type Step } from '../lib/steps.ts'
import { currentRootfs } from '../lib/rootfs/location.ts'
import { runSession, sessionSnapshot, sessionWorld, type Report } from './harness.ts'
import { diffAndRepair } from './host.ts'
import { hostProblems, setupProblems } from './preflight.ts'
import { readProgress, recordCheck } from '../learner/progress.ts'
import { formatResult, neverStarted, summaryLine, toJson } from './report.ts'
import { killAllRuns, ourPids } from './runner.ts'
import { removeHostFiles } from './probe.ts'
import { checksFor, matchesOnly } from './harness.ts'
import { cgroupVersion } from './cgroups.ts'
import { becomeChildSubreaper } from '../lib/libc.ts'

const USAGE = `usage: npm run check <step> [-- options]
  <step>           3, 03, step-03 or 03-cgroups (default: the first step not passed yet)
  --solution       check solutions/<step> instead of your steps/<step>
  --engine DIR     check the engine in DIR
  --only ID[,ID]   only these checks (e.g. 03.oom, or 03 for a whole step)
  --json           machine-readable result on stdout
  --verbose, -v    every run's command line and whole output
  --watch, -w      check again whenever a file of the engine changes (polling)
  --list           list the checks of the step and exit`

interface Args {
  step: Step | undefined
  solution: boolean
  engine: string | undefined
  only: string | undefined
  json: boolean
  verbose: boolean
  watch: boolean
  list: boolean
  help: boolean
}

function parseArgs(argv: string[]): Args {
  const args: Args = { step: undefined, solution: false, engine: undefined, only: undefined, json: false, verbose: false, watch: false, list: false, help: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--solution') args.solution = true
    else if (a === '--json') args.json = true
    else if (a === '--verbose' || a === '-v') args.verbose = true
    else if (a === '--watch' || a === '-w') args.watch = true
    else if (a === '--list') args.list = true
    else if (a === '--help' || a === '-h') args.help = true
    else if (a.startsWith('--only')) args.only = value()
    else if (a.startsWith('--engine')) args.engine = value()
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`)
    else {
      const step = findStep(a)
      if (!step) throw new Error(`no step "${a}": the steps are ${STEPS.map((s) => s.id).join(', ')}`)
      args.step = step
    }
  }
  return args
}

function say(text: string): void {
  process.stderr.write(`minicontainer check: ${text}\n`)
}

/** On a machine that cannot run containers: the workshop VM runs the checker instead. */
async function delegateToVm(reason: string | undefined, argv: string[]): Promise<never> {
  let remote: { hostCanRunContainers(): { ok: true } | { ok: false; reason: string }; runInVm(script: string, args: string[]): Promise<number> }
  try {
    remote = await import('../lib/vm/remote.ts')
  } catch {
    say(`${reason ?? 'this machine cannot run containers'}; use the workshop VM: see vagrant/README.md`)
    process.exit(2)
  }
  if (reason) say(`${reason}: running the check in the workshop VM`)
  process.exit(await remote.runInVm('check', argv))
}

/** lib/vm/remote.ts has the last word on whether this host can run containers (e.g. no memory controller). */
async function delegateIfTheVmKnowsBetter(argv: string[]): Promise<void> {
  let verdict: { ok: true } | { ok: false; reason: string }
  try {
    const remote = (await import('../lib/vm/remote.ts')) as { hostCanRunContainers(): { ok: true } | { ok: false; reason: string } }
    verdict = remote.hostCanRunContainers()
  } catch {
    return // no VM support here: the setup checks below say what is missing
  }
  if (!verdict.ok) await delegateToVm(verdict.reason, argv)
}

function engineFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (d: string): void => {
    let entries: fs.Dirent[] = []
    try {
      entries = fs.readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const full = path.join(d, e.name)
      if (e.isDirectory() && e.name !== 'node_modules') walk(full)
      else if (e.isFile()) out.set(full, fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0)
    }
  }
  walk(dir)
  return out
}

async function checkOnce(args: Args, step: Step, engineDir: string): Promise<Report> {
  const shown = projectPath(engineDir)
  const steps = STEPS.filter((s) => s.number <= step.number).map((s) => String(s.number).padStart(2, '0'))
  const which = args.only ? `only ${args.only}` : `checks of step${steps.length > 1 ? 's' : ''} ${steps.reverse().join(', ')}`
  if (!args.json) console.log(kleur.bold(`Checking ${shown} (step ${step.id}: ${step.title}), ${which}; cgroup v${cgroupVersion()}`))
  becomeChildSubreaper() // orphans of the engines come back to the checker: none escapes unseen
  const report = await runSession({
    step,
    engineDir,
    rootfs: currentRootfs()?.dir,
    only: args.only,
    concurrency: Number(process.env.MINICONTAINER_CHECK_CONCURRENCY ?? 6),
    onResult: (r) => {
      if (!args.json) console.log(formatResult(r, args.verbose))
    },
  })
  const learnerDir = stepDir(step, 'steps')
  if (!args.only && path.resolve(engineDir) === learnerDir) {
    try {
      const failed = report.results.filter((r) => !r.passed)
      recordCheck(step.id, { passed: report.failed === 0, failed: failed.map((r) => r.id), todo: failed.find((r) => r.todo)?.todo })
    } catch (error) {
      say(`could not save progress: ${(error as Error).message}`)
    }
  }
  if (args.json) console.log(JSON.stringify(toJson(report), null, 2))
  else {
    const banner = neverStarted(report)
    if (banner) console.log(kleur.red().bold(banner))
    if (report.failed === 0) {
      const next = STEPS.find((s) => s.number === step.number + 1)
      console.log(kleur.green(`Step ${step.id} done in ${(report.durationMs / 1000).toFixed(1)} s.`) + (next && !args.solution ? ` Next: steps/${next.id}/README.md, then npm run check ${next.number}` : ''))
    }
    console.log(summaryLine(report))
  }
  return report
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2)
  let args: Args
  try {
    args = parseArgs(argv)
  } catch (error) {
    say((error as Error).message)
    console.error(USAGE)
    return 2
  }
  if (args.help) {
    console.log(USAGE)
    return 0
  }
  if (!args.step) {
    const progress = readProgress()
    args.step = STEPS.find((s) => !progress.steps[s.id]?.passed) ?? STEPS.at(-1)!
    if (!args.json) say(`no step given: checking ${args.step.id} (give one, e.g. npm run check 3)`)
  }
  const step = args.step
  const engineDir = args.engine ? path.resolve(args.engine) : stepDir(step, args.solution ? 'solutions' : 'steps')

  const all = await checksFor(step)
  if (args.list) {
    for (const { check } of all) console.log(`${check.id.padEnd(18)} ${check.title}`)
    return 0
  }
  if (args.only && !all.some(({ check }) => matchesOnly(check.id, args.only)) && !matchesOnly('host.clean', args.only)) {
    say(`--only ${args.only}: no such check in step ${step.id} and before (npm run check ${step.number} -- --list shows them)`)
    return 2
  }

  // Preflight: where can this run, and is everything in place?
  const problems = hostProblems()
  if (process.env.MINICONTAINER_FORCE_VM === '1' || problems.length) await delegateToVm(problems[0]?.what, argv)
  await delegateIfTheVmKnowsBetter(argv)
  if (!fs.existsSync(path.join(engineDir, 'main.ts'))) {
    say(`no engine at ${engineDir} (main.ts is missing)`)
    return 2
  }
  const setup = setupProblems(step.number >= 2)
  if (setup.length) {
    for (const p of setup) say(`${p.what}\n  what to do: ${p.todo}`)
    return 2
  }

  let stopping = false
  const stop = async (signal: string, code = 130): Promise<void> => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping the engine and cleaning up...`)
    await killAllRuns()
    await sessionWorld()?.close() // its namespaces would go with the checker anyway: their agents read our pipe
    removeHostFiles()
    const snapshot = sessionSnapshot()
    if (snapshot) for (const leak of await diffAndRepair(snapshot, ourPids)) say(`repaired: ${leak.what}`)
    process.exit(code)
  }
  process.on('SIGINT', () => void stop('Ctrl-C'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGHUP', () => void stop('SIGHUP'))
  // Output going nowhere (`| head`, a closed terminal) must not stop the clean-up.
  process.stdout.on('error', () => {})
  process.stderr.on('error', () => {})
  // A bug in the checker itself: still stop every engine and repair the host before leaving.
  const crash = (error: unknown): void => {
    say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    void stop('the checker failed', 2)
  }
  process.on('uncaughtException', crash)
  process.on('unhandledRejection', crash)

  if (!args.watch) {
    const report = await checkOnce(args, step, engineDir)
    return report.failed === 0 ? 0 : 1
  }
  // --watch: poll (file events do not cross VM shared folders), check again on any change.
  let last = engineFiles(engineDir)
  for (;;) {
    if (process.stdout.isTTY) process.stdout.write('\u001bc')
    await checkOnce(args, step, engineDir)
    console.log(kleur.dim('watching for changes (Ctrl-C to stop)...'))
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000))
      const now = engineFiles(engineDir)
      const changed = now.size !== last.size || [...now].some(([f, m]) => last.get(f) !== m)
      last = now
      if (changed) break
    }
  }
}

// Exit as soon as the output is flushed: lingering timers of finished runs must not keep the learner waiting
// (process.exit alone may cut a large output going into a pipe).
const code = await main()
await new Promise((resolve) => process.stdout.write('', resolve))
await new Promise((resolve) => process.stderr.write('', resolve))
process.exit(code)
