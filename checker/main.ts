// `npm run check step-03 [-- --solution|--json|--verbose|--only ID|--watch|--list]`
// Runs the learner's engine for real and checks it from inside and from the host (README.md of this folder).
import fs from 'node:fs'
import path from 'node:path'
import kleur from 'kleur'
import { formatError } from '../lib/errors.ts'
import { becomeChildSubreaper } from '../lib/libc.ts'
import { STEPS, projectPath, stepDir, type Step } from '../lib/steps.ts'
import { currentRootfs } from '../lib/rootfs/location.ts'
import { readProgress, recordCheck } from '../learner/progress.ts'
import { USAGE, parseCheckArgs, type CheckArgs } from './args.ts'
import { cgroupVersion } from './cgroups.ts'
import { cleanUpOnExit } from './cleanup.ts'
import { delegateToVmIfNeeded } from './delegate.ts'
import { checksFor, matchesOnly, runSession, type Report } from './harness.ts'
import { setupProblems } from './preflight.ts'
import { reportPrinter, summaryLine, toJson } from './report.ts'
import { watch } from './watch.ts'

function say(text: string): void {
  process.stderr.write(`minicontainer check: ${text}\n`)
}

/** One round: every check, printed as it comes, then the summary; the learner's own step records its progress. */
async function checkOnce(args: CheckArgs, step: Step, engineDir: string): Promise<Report> {
  const steps = STEPS.filter((s) => s.number <= step.number).map((s) => String(s.number).padStart(2, '0'))
  const which = args.only ? `only ${args.only}` : `checks of step${steps.length > 1 ? 's' : ''} ${steps.reverse().join(', ')}`
  if (!args.json) console.log(kleur.bold(`Checking ${projectPath(engineDir)} (step ${step.id}: ${step.title}), ${which}; cgroup v${cgroupVersion()}`))
  becomeChildSubreaper() // orphans of the engines come back to the checker: none escapes unseen
  const printer = reportPrinter(args.verbose)
  const report = await runSession({
    step,
    engineDir,
    rootfs: currentRootfs()?.dir,
    only: args.only,
    onResult: (r) => {
      if (!args.json) printer.result(r)
    },
  })
  if (!args.only && path.resolve(engineDir) === stepDir(step, 'steps')) {
    const failed = report.results.filter((r) => !r.passed)
    try {
      // The TODO to work on: the one the engine's own failure points at, when it failed before the command ran.
      const todo = report.rootCauses.length ? report.rootCauses[0]!.todo : failed.find((r) => r.todo)?.todo
      recordCheck(step.id, { passed: report.failed === 0, failed: failed.map((r) => r.id), todo })
    } catch (error) {
      say(`could not save progress: ${(error as Error).message}`)
    }
  }
  if (args.json) console.log(JSON.stringify(toJson(report), null, 2))
  else {
    printer.finish(report)
    if (report.failed === 0) {
      const next = STEPS.find((s) => s.number === step.number + 1)
      console.log(kleur.green(`Step ${step.id} done in ${(report.durationMs / 1000).toFixed(1)} s.`) + (next && !args.solution ? ` Next: steps/${next.id}/README.md, then npm run check ${next.number}` : ''))
    }
    console.log(summaryLine(report))
  }
  return report
}

async function main(argv: string[]): Promise<number> {
  let args: CheckArgs
  try {
    args = parseCheckArgs(argv)
  } catch (error) {
    console.error(formatError('minicontainer check', error))
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

  await delegateToVmIfNeeded(argv, say)
  if (!fs.existsSync(path.join(engineDir, 'main.ts'))) {
    say(`no engine at ${engineDir} (main.ts is missing)`)
    return 2
  }
  const setup = setupProblems(step.number >= 2)
  if (setup.length) {
    for (const p of setup) say(`${p.what}\n  what to do: ${p.todo}`)
    return 2
  }

  cleanUpOnExit(say)
  if (!args.watch) return (await checkOnce(args, step, engineDir)).failed === 0 ? 0 : 1
  return watch(engineDir, () => checkOnce(args, step, engineDir), () => console.log(kleur.dim('watching for changes (Ctrl-C to stop)...')))
}

// Exit as soon as the output is flushed: lingering timers of finished runs must not keep the learner waiting
// (process.exit alone may cut a large output going into a pipe).
const code = await main(process.argv.slice(2))
await new Promise((resolve) => process.stdout.write('', resolve))
await new Promise((resolve) => process.stderr.write('', resolve))
process.exit(code)
