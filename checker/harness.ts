// Runs the checks of a step (then of the steps before it), a few at a time, and makes sure the host is
// left as it was: a leak becomes the failing check "host.clean", with its likely cause, and is repaired.
import { STEPS, type Step } from '../lib/steps.ts'
import { CheckFailure, resolveHint, type Check, type CheckContext } from './check.ts'
import { diffAndRepair, imageLeaks, killTrees, snapshotHost, snapshotImage, sweepImage, type HostSnapshot, type Leak } from './host.ts'
import { descendants } from './proc.ts'
import { ourPids, runEngine, type RunOptions, type RunResult } from './runner.ts'
import { runSharedProbe, type SharedProbe } from './probe.ts'
import { endSession } from './session.ts'
import { engineFailure, failureKey, type EngineFailure } from './rootcause.ts'
import { assertHostNetworkUnchanged, snapshotHostNetwork } from './host-network.ts'
import { TestNetwork } from './test-network.ts'

/**
 * From step 08 on the engine builds a bridge, veths and NAT rules: every run of the session happens in a test
 * test network (checker/test-network.ts), never in the real host's network. MINICONTAINER_TEST_NETWORK=1 puts earlier
 * steps' runs there too (the project's tests use it to show the wrapper changes nothing else).
 */
export function needsTestNetwork(step: Step): boolean {
  return step.number >= 8 || process.env.MINICONTAINER_TEST_NETWORK === '1'
}
import { removeAllScratch } from './scratch.ts'

export interface CheckResult {
  id: string
  step: string
  title: string
  passed: boolean
  why: string
  /** Where to look, in words: the TODO, its file and function, its concept. */
  hint: string
  /** The TODO behind this check's verdict (the check's own, or a better one the evidence named). */
  todo?: string
  expected?: string
  got?: string
  /** The engine command line of the run the verdict is about. */
  command?: string
  stdout?: string
  stderr?: string
  exitCode?: number | null
  /** Every run of the check (for --verbose). */
  runs: RunResult[]
  /** What the check measured (for --verbose and --json). */
  notes: string[]
  durationMs: number
  /** The engine failed before the command of the verdict's run ran: the failure only follows from that. */
  engineFailure?: EngineFailure
  /** Set once the session is over: this failure follows from one of the report's root causes. */
  followsFromRootCause?: boolean
}

/** An engine failure that made checks fail: said first, with the TODO it points to. */
export interface RootCause extends EngineFailure {
  /** Where to look, in words (as a check's hint), or '' when the error is in no TODO's code. */
  hint: string
  /** The engine command line of the first run that failed so. */
  command: string
  /** The checks whose failure follows from it. */
  checks: string[]
  /** In how many of the session's runs, of how many. */
  runs: number
  ofRuns: number
}

export interface Report {
  step: string
  engineDir: string
  results: CheckResult[]
  /** Failures of the engine itself before the command ran, in the order the checks met them (usually one). */
  rootCauses: RootCause[]
  passed: number
  failed: number
  durationMs: number
}

/** The checks for step N: its own first, then N-1 ... 1. */
export async function checksFor(step: Step): Promise<{ step: Step; check: Check }[]> {
  const out: { step: Step; check: Check }[] = []
  for (const s of [...STEPS].filter((x) => x.number <= step.number).sort((a, b) => b.number - a.number)) {
    let mod: { checks: Check[] }
    try {
      mod = (await import(`./checks/${s.id}.ts`)) as { checks: Check[] }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') continue
      throw error
    }
    for (const check of mod.checks) out.push({ step: s, check })
  }
  return out
}

/** `--only 03.oom` (one check), `--only 03` (a step's checks), comma-separated lists. */
export function matchesOnly(id: string, only: string | undefined): boolean {
  if (!only) return true
  return only.split(',').some((o) => {
    const want = o.trim()
    return id === want || id.startsWith(want.replace(/\.$/, '') + '.')
  })
}

export interface HarnessOptions {
  step: Step
  engineDir: string
  rootfs: string | undefined
  only?: string
  concurrency?: number
  /** Called in list order as soon as a result (and every result before it) is known. */
  onResult?: (r: CheckResult) => void
}

let currentSnapshot: HostSnapshot | undefined
let currentNetwork: TestNetwork | undefined
/** The session's test network, if any (for Ctrl-C: close it). */
export function sessionNetwork(): TestNetwork | undefined {
  return currentNetwork
}

/**
 * What the containers left in the test network's host (veths, leases, rules: reported, then gone with it), and
 * whether the REAL host's network changed at all (it must not: loudly, repaired where it is minicontainer's).
 */
async function closeTestNetwork(
  testNetwork: TestNetwork,
  networkBefore: ReturnType<typeof snapshotHostNetwork>,
  engineDir: string,
  killedEngines: Set<number>,
): Promise<Leak[]> {
  const leaks: Leak[] = []
  let left = testNetwork.leftovers()
  if (testNetwork.leasesOf(killedEngines).length) {
    // Engines that were killed (01.engine-killed kills one with SIGKILL) had no chance to release their network:
    // the next engine to start removes what they left, as it does with cgroups. Start one, then look.
    await runEngine(engineDir, { command: ['/bin/true'] }, testNetwork)
    left = testNetwork.leftovers()
  }
  for (const link of left.links) leaks.push({ kind: 'network', what: `the link ${link} stayed in the host's network after every container exited`, cause: "the engine must delete the host end of the container's veth pair when the container ends (deleting one end deletes both)", text: link, repaired: true })
  for (const lease of left.leases) leaks.push({ kind: 'network', what: `the address lease ${lease} stayed after every container exited`, cause: "the engine must release the container's address (remove its lease file) when the container ends", text: lease, repaired: true })
  for (const rule of left.rules) leaks.push({ kind: 'network', what: `the firewall rule "${rule}" stayed after every container exited`, cause: "the engine must remove the container's NAT rules (they carry its lease's tag as their comment) when the container ends", text: rule, repaired: true })
  await testNetwork.close()
  currentNetwork = undefined
  try {
    assertHostNetworkUnchanged(networkBefore, 'the check')
  } catch (error) {
    leaks.push({ kind: 'network', what: (error as Error).message, cause: "the engine changed the real host's network although it ran in a test network: does it enter another network namespace (setns, nsenter -t 1)?", text: '', repaired: /repaired:/.test((error as Error).message) })
  }
  return leaks
}
/** The snapshot taken before the current check session (for Ctrl-C repair). */
export function sessionSnapshot(): HostSnapshot | undefined {
  return currentSnapshot
}

export async function runSession(options: HarnessOptions): Promise<Report> {
  const started = Date.now()
  const list = (await checksFor(options.step)).filter(({ check }) => matchesOnly(check.id, options.only))
  const before = snapshotHost()
  const swept = sweepImage(options.rootfs)
  const image = snapshotImage(options.rootfs)
  currentSnapshot = before
  const networkBefore = needsTestNetwork(options.step) ? snapshotHostNetwork() : undefined
  const testNetwork = networkBefore ? await TestNetwork.create() : undefined
  currentNetwork = testNetwork
  const marks = new Map<string, Set<string>>()
  let shared: Promise<SharedProbe> | undefined
  const results: (CheckResult | undefined)[] = list.map(() => undefined)
  let reported = 0
  const flush = (): void => {
    while (reported < results.length && results[reported]) options.onResult?.(results[reported++]!)
  }

  const runOne = async (index: number): Promise<void> => {
    const { step, check } = list[index]!
    const runs: RunResult[] = []
    const tokens = new Set<string>()
    const notes: string[] = []
    marks.set(check.id, tokens)
    const ctx: CheckContext = {
      step: options.step,
      engineDir: options.engineDir,
      rootfs: options.rootfs,
      network: testNetwork,
      run: async (runOptions: RunOptions) => {
        const r = await runEngine(options.engineDir, runOptions, testNetwork)
        runs.push(r)
        tokens.add(r.token)
        return r
      },
      shared: async () => {
        shared ??= runSharedProbe(options.engineDir, testNetwork)
        const p = await shared
        if (!runs.includes(p.run)) runs.push(p.run)
        for (const t of [p.run.token, p.hostname, p.secret]) tokens.add(t)
        return p
      },
      mark: (token) => void tokens.add(token),
      note: (text) => void notes.push(text),
    }
    const t0 = Date.now()
    const base = {
      id: check.id,
      step: step.id,
      title: check.title,
      why: check.why,
      hint: resolveHint(check.hint, options.engineDir, options.step),
      todo: check.hint,
      runs,
      notes,
    }
    try {
      await check.run(ctx)
      results[index] = { ...base, passed: true, durationMs: Date.now() - t0 }
    } catch (error) {
      const failure =
        error instanceof CheckFailure
          ? error
          : new CheckFailure('the check to run to its end', `the checker could not judge: ${error instanceof Error ? error.message : String(error)}`)
      const r = failure.result ?? runs.at(-1)
      const engine = r ? engineFailure(r, options.engineDir) : undefined
      results[index] = {
        ...(engine ? { engineFailure: engine } : {}),
        ...base,
        hint: failure.hint === undefined ? base.hint : resolveHint(failure.hint ?? undefined, options.engineDir, options.step),
        todo: failure.hint === undefined ? check.hint : (failure.hint ?? undefined),
        passed: false,
        expected: failure.expected,
        got: failure.got,
        command: r?.commandLine,
        stdout: r?.stdout,
        stderr: r?.stderr,
        exitCode: r?.exitCode,
        durationMs: Date.now() - t0,
      }
    }
    flush()
  }

  const concurrency = Math.max(1, options.concurrency ?? 6)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, list.length) }, async () => {
      while (next < list.length) await runOne(next++)
    }),
  )

  // The host, after everything: what leaked, and which check's random names it carries.
  await endSession() // what the checks shared (step 09's registry): gone before the host is compared
  const leaks: Leak[] = [...(await diffAndRepair(before, ourPids)), ...imageLeaks(image)]
  if (testNetwork) {
    const killed = new Set(
      results
        .flatMap((r) => r?.runs ?? [])
        .filter((run) => run.signal !== null && run.enginePid !== undefined)
        .map((run) => run.enginePid!),
    )
    leaks.push(...(await closeTestNetwork(testNetwork, networkBefore!, options.engineDir, killed)))
  }
  removeAllScratch() // the checks' throw-away folders, now that no mount is left inside one
  // Every run is over, so anything still below the checker (a child subreaper: orphans of the engines
  // come back to it, however fast the engine exited) outlived its engine.
  for (const left of killTrees(descendants(process.pid).filter((p) => p.state !== 'Z').map((p) => p.pid))) {
    leaks.push({
      kind: 'process',
      what: `a process outlived the engine (${left}), killed by the checker`,
      cause: "the engine must not leave processes behind: the container's processes end with its PID namespace; anything the engine starts outside it must be waited for or killed",
      text: left,
      repaired: true,
    })
  }
  for (const r of results) {
    for (const run of r?.runs ?? []) {
      for (const left of run.leftovers) {
        leaks.push({
          kind: 'process',
          what: `a process outlived the engine (${left}), killed by the checker`,
          cause: "the container's processes must end with it: PID namespace (its init's death kills them), PR_SET_PDEATHSIG(SIGKILL) in the child, kill what is left in its cgroup",
          text: run.token,
          repaired: true,
        })
      }
    }
  }
  currentSnapshot = undefined
  const final = results.filter((r): r is CheckResult => r !== undefined)
  if (!options.only || matchesOnly('host.clean', options.only) || leaks.length) {
    const blame = (leak: Leak): string => {
      const who = [...marks].filter(([, tokens]) => [...tokens].some((t) => leak.text.includes(t))).map(([id]) => id)
      return who.length ? ` (during ${who.join(', ')})` : ''
    }
    const clean: CheckResult = {
      id: 'host.clean',
      step: options.step.id,
      title: `the host is left as it was (hostname, mounts, cgroups, processes, the rootfs image${testNetwork ? ', network' : ''})`,
      passed: leaks.length === 0,
      why: "a broken run must not leave the learner's machine broken: leaked mounts, cgroups and processes pile up with every run.",
      hint: leaks.length ? [...new Set(leaks.map((l) => l.cause))].join('\n') : '',
      runs: [],
      notes: swept.length ? [`removed from the rootfs image's dev/ before the checks (left by an earlier run): ${swept.join(', ')}`] : [],
      durationMs: 0,
      ...(leaks.length
        ? {
            expected: `the same hostname, mount table, cgroups, rootfs image${testNetwork ? ', network' : ''} and no process left behind`,
            got: leaks.map((l) => `${l.what}${blame(l)}${l.repaired ? ' [repaired]' : ' [COULD NOT REPAIR]'}`).join('\n'),
          }
        : {}),
    }
    final.push(clean)
    options.onResult?.(clean)
  }
  const passed = final.filter((r) => r.passed).length
  const rootCauses = findRootCauses(final, options)
  return {
    step: options.step.id,
    engineDir: options.engineDir,
    results: final,
    rootCauses,
    passed,
    failed: final.length - passed,
    durationMs: Date.now() - started,
  }
}

/** Groups the failures that follow from the same engine failure, and marks them. */
function findRootCauses(results: CheckResult[], options: HarnessOptions): RootCause[] {
  const allRuns = new Set(results.flatMap((r) => r.runs))
  const failedRuns = [...allRuns].map((run) => ({ run, failure: engineFailure(run, options.engineDir) })).filter((x) => x.failure)
  const causes = new Map<string, RootCause>()
  for (const result of results) {
    if (result.passed || !result.engineFailure) continue
    const key = failureKey(result.engineFailure)
    let cause = causes.get(key)
    if (!cause) {
      const runs = failedRuns.filter((x) => failureKey(x.failure!) === key)
      cause = {
        ...result.engineFailure,
        hint: resolveHint(result.engineFailure.todo, options.engineDir, options.step),
        // A run of the engine itself (not one wrapped in a throw-away mount namespace) is the one to show.
        command: runs.find((x) => x.run.commandLine.startsWith('node '))?.run.commandLine ?? result.command ?? '',
        checks: [],
        runs: runs.length,
        ofRuns: allRuns.size,
      }
      causes.set(key, cause)
    }
    cause.checks.push(result.id)
    result.followsFromRootCause = true
  }
  return [...causes.values()]
}
