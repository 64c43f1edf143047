// `npm run check` arguments: the step (3, 03, step-03, 03-cgroups, cgroups) and the options.
import { UsageError, parseCommandLine } from '../lib/args.ts'
import { STEPS, findStep, type Step } from '../lib/steps.ts'

export const USAGE = `usage: npm run check <step> [-- options]
  <step>           3, 03, step-03 or 03-cgroups (default: the first step not passed yet)
  --solution       check solutions/<step> instead of your steps/<step>
  --engine DIR     check the engine in DIR
  --only ID[,ID]   only these checks (e.g. 03.oom, or 03 for a whole step)
  --json           machine-readable result on stdout
  --verbose, -v    every run's command line and whole output
  --watch, -w      check again whenever a file of the engine changes (polling)
  --list           list the checks of the step and exit`

export interface CheckArgs {
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

const OPTIONS = {
  solution: { type: 'boolean' },
  engine: { type: 'string' },
  only: { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  watch: { type: 'boolean', short: 'w' },
  list: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export function parseCheckArgs(argv: string[]): CheckArgs {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { usage: USAGE, positionals: true })
  if (positionals.length > 1) throw new UsageError(`one step at a time (got ${positionals.join(', ')})`, USAGE)
  let step: Step | undefined
  if (positionals[0] !== undefined) {
    step = findStep(positionals[0])
    if (!step) throw new UsageError(`no step "${positionals[0]}": the steps are ${STEPS.map((s) => s.id).join(', ')}`, USAGE)
  }
  if (values.solution && values.engine) throw new UsageError('--solution and --engine both name the engine: give one', USAGE)
  return {
    step,
    solution: values.solution ?? false,
    engine: values.engine,
    only: values.only,
    json: values.json ?? false,
    verbose: values.verbose ?? false,
    watch: values.watch ?? false,
    list: values.list ?? false,
    help: values.help ?? false,
  }
}
