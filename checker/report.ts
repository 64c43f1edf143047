// What the learner sees: one ✔/✘ line per check; under a failure what ran, what was expected, what came,
// why it matters, where to fix it, and the engine's own output prefixed so it cannot pass for the checker's.
import kleur from 'kleur'
import type { CheckResult, Report } from './harness.ts'

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
 * When no run got as far as running the command, one line up front says so, with the engine's first error:
 * a crash at start-up fails every check, and twenty failures hide the one cause.
 */
export function neverStarted(report: Report): string | undefined {
  const failed = report.results.filter((r) => !r.passed && r.id !== 'host.clean')
  if (failed.length < 2 || failed.length < report.results.length - 1) return undefined
  const runs = failed.flatMap((r) => r.runs)
  if (!runs.length || runs.some((run) => run.facts.size > 0)) return undefined
  const stderr = runs.map((run) => run.stderr).find((e) => e.trim()) ?? ''
  const lines = stderr.split('\n')
  const message = lines.find((l) => /^\s*(\w*Error\b|minicontainer:)/.test(l)) ?? lines.find((l) => l.trim()) ?? ''
  const where = lines.find((l) => /^file:\/\/.*:\d+$/.test(l.trim()))
  const first = where && !message.startsWith('minicontainer:') ? `${message.trim()} (${where.trim().replace(/^file:\/\//, '')})` : message
  const ended = runs[0]!.timedOut ? 'did not finish in time' : `exited with status ${runs[0]!.exitCode}`
  return `Your engine never got as far as running a command (it ${ended}).${first ? ` Its first error: ${first.trim().slice(0, 300)}` : ''}`
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
    checks: report.results.map((r) => ({
      id: r.id,
      step: r.step,
      title: r.title,
      passed: r.passed,
      ...(r.passed ? {} : { expected: r.expected, got: r.got, why: r.why, hint: r.hint, command: r.command, exitCode: r.exitCode, stdout: tail(r.stdout), stderr: tail(r.stderr) }),
      durationMs: r.durationMs,
      notes: r.notes,
      runs: r.runs.map((run) => ({ command: run.fullCommandLine, exitCode: run.exitCode, timedOut: run.timedOut, durationMs: run.durationMs })),
    })),
  }
}
