// What the learner sees: one ✔/✘ line per check; under a failure what ran, what was expected, what came,
// why it matters, where to fix it, and the engine's own output prefixed so it cannot pass for the checker's.
import kleur from 'kleur'
import type { CheckResult, Report, RootCause } from './harness.ts'
import { describeWhere } from './rootcause.ts'

const ENGINE_PREFIX = '[your engine]'
const MAX_LINES = 12

function indent(label: string, text: string): string {
  const pad = ' '.repeat(label.length)
  return text
    .split('\n')
    .map((line, i) => `    ${i === 0 ? label : pad}${line}`)
    .join('\n')
}

function engineOutput(r: CheckResult, verbose: boolean): string[] {
  const out: string[] = []
  const take = (text: string | undefined, stream: string): void => {
    if (!text) return
    let lines = text.replace(/\n$/, '').split('\n')
    // The probe's own "@mc" lines are the checker's protocol: shown only in --verbose.
    if (!verbose) lines = lines.filter((l) => !l.startsWith('@mc '))
    if (!lines.length) return
    // The start of an error (its message) and its end both matter; the middle of a stack trace rarely does.
    if (!verbose && lines.length > MAX_LINES) lines = [...lines.slice(0, MAX_LINES / 2), `... (${lines.length - MAX_LINES} more lines, --verbose shows all)`, ...lines.slice(-MAX_LINES / 2)]
    for (const l of lines) out.push(`    ${kleur.gray(`${ENGINE_PREFIX} ${stream}`)} ${l.length > 300 ? l.slice(0, 300) + '...' : l}`)
  }
  take(r.stdout, 'stdout')
  take(r.stderr, 'stderr')
  return out
}

export function formatResult(r: CheckResult, verbose: boolean): string {
  const mark = r.passed ? kleur.green('✔') : kleur.red('✘')
  const lines = [`${mark} ${kleur.dim(r.id.padEnd(18))} ${r.title}`]
  if (!r.passed) {
    if (r.command) lines.push(indent('ran:      ', r.command))
    if (r.expected) lines.push(indent('expected: ', r.expected))
    if (r.got) lines.push(indent('got:      ', kleur.red(r.got)))
    lines.push(indent('why:      ', r.why))
    if (r.hint) lines.push(indent('hint:     ', kleur.yellow(r.hint)))
    lines.push(...engineOutput(r, verbose))
  }
  if (verbose) {
    for (const note of r.notes) lines.push(kleur.cyan(`    measured: ${note}`))
    for (const run of r.runs) {
      lines.push(kleur.dim(`    run (${run.durationMs} ms, exit ${run.exitCode ?? run.signal}${run.timedOut ? ', timed out' : ''}): ${run.fullCommandLine}`))
      if (r.passed) lines.push(...engineOutput({ ...r, stdout: run.stdout, stderr: run.stderr }, true))
    }
  }
  return lines.join('\n')
}

/**
 * The engine's own failures before the command ran, said first: its first error, where in the engine it came from
 * and the TODO there. Every check that needed the command fails with it; those are marked as following from it.
 */
export function formatRootCause(cause: RootCause, verbose: boolean): string {
  const runs = cause.runs === cause.ofRuns ? `in every run (${cause.runs})` : `in ${cause.runs} of ${cause.ofRuns} runs`
  const lines = [kleur.red().bold(`✘ Your engine stopped before running the command ${runs}: it ${cause.ended}. Fix this first.`)]
  lines.push(indent('error:    ', kleur.red([cause.message, ...cause.detail].map((l) => (l.length > 300 && !verbose ? l.slice(0, 300) + '...' : l)).join('\n'))))
  if (cause.where) lines.push(indent('where:    ', describeWhere(cause.where)))
  if (cause.hint) lines.push(indent('hint:     ', kleur.yellow(cause.hint)))
  if (cause.command) lines.push(indent('ran:      ', cause.command))
  const again = reproduce(cause.command)
  if (again) lines.push(indent('try:      ', again))
  lines.push(`    ${cause.checks.length === 1 ? 'The failure' : `The ${cause.checks.length} failures`} marked ↳ below follow from it.`)
  return lines.join('\n')
}

/** The same engine and flags with a trivial command, to see the failure by hand. */
function reproduce(command: string): string | undefined {
  if (!command.startsWith('node ') || !command.includes(' -- ')) return undefined
  return `sudo ${command.slice(0, command.indexOf(' -- '))} -- /bin/true`
}

/** A failure that only follows from the engine's failure: one line, not a second set of hints. */
function formatFollower(r: CheckResult, verbose: boolean): string {
  if (verbose) return formatResult(r, verbose)
  return `${kleur.red('✘')} ${kleur.dim(r.id.padEnd(18))} ${kleur.dim(`↳ ${r.title}`)}`
}

/**
 * Prints a session as it goes: passing checks at once, in order; from the first failure on, everything waits for the
 * end, so that the engine's own failure (if any) comes before the failures it caused.
 */
export function reportPrinter(verbose: boolean, print: (text: string) => void = (t) => console.log(t)): { result(r: CheckResult): void; finish(report: Report): void } {
  const held: CheckResult[] = []
  return {
    result(r) {
      if (held.length || !r.passed) held.push(r)
      else print(formatResult(r, verbose))
    },
    finish(report) {
      for (const cause of report.rootCauses) print(formatRootCause(cause, verbose))
      for (const r of held) print(r.followsFromRootCause ? formatFollower(r, verbose) : formatResult(r, verbose))
    },
  }
}

/** Plain last line, exactly `N passed, N failed` (colour codes only when colours are on). */
export function summaryLine(report: Report): string {
  return `${report.passed} passed, ${report.failed} failed`
}

/** The end of an output, at most 4 KB (the start of a flood says little). */
function tail(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= 4096) return text
  return `[... ${text.length - 4096} characters cut]` + text.slice(-4096)
}

export function toJson(report: Report): unknown {
  return {
    step: report.step,
    engineDir: report.engineDir,
    passed: report.passed,
    failed: report.failed,
    durationMs: report.durationMs,
    // The engine's own failures before its command ran: the first thing to fix (see formatRootCause).
    rootCauses: report.rootCauses.map((c) => ({ message: c.message, detail: c.detail, where: c.where ?? null, todo: c.todo ?? null, hint: c.hint, ended: c.ended, command: c.command, checks: c.checks, runs: c.runs, ofRuns: c.ofRuns })),
    checks: report.results.map((r) => ({
      id: r.id,
      step: r.step,
      title: r.title,
      passed: r.passed,
      ...(r.passed ? {} : { expected: r.expected, got: r.got, why: r.why, hint: r.hint, todo: r.todo ?? null, followsFromRootCause: r.followsFromRootCause ?? false, command: r.command, exitCode: r.exitCode, stdout: tail(r.stdout), stderr: tail(r.stderr) }),
      durationMs: r.durationMs,
      notes: r.notes,
      runs: r.runs.map((run) => ({ command: run.fullCommandLine, exitCode: run.exitCode, timedOut: run.timedOut, durationMs: run.durationMs })),
    })),
  }
}
