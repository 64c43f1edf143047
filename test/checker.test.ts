// The checker, for real (root, the Alpine rootfs, the kernel's counters): every solution passes, every
// starter fails its own step's checks, and every mutant (a broken engine) is caught by the check meant for
// it; the host is clean after each run and after the whole suite.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PROJECT_ROOT, STEPS } from '../lib/steps.ts'
import { hostLeftovers, snapshotHost, type HostSnapshot } from './helpers/host.ts'
import { cgroupVersion } from '../lib/cgroupfs.ts'
import { currentRootfs } from '../lib/rootfs/location.ts'
import { imageLeaks, snapshotImage } from '../checker/host.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'
import { MUTANTS, buildMutant, mutate } from './mutants/mutants.ts'

const CHECKER = path.join(PROJECT_ROOT, 'checker', 'main.ts')
const MUTANT_DIR_PREFIX = path.join(os.tmpdir(), 'mc-mutant-')

interface JsonCheck {
  id: string
  passed: boolean
  expected?: string
  got?: string
  command?: string
  /** The TODO the failure names (its evidence may name a better one than the check's own). */
  todo?: string | null
  followsFromRootCause?: boolean
}
interface JsonRootCause {
  message: string
  todo: string | null
  checks: string[]
}
interface JsonReport {
  passed: number
  failed: number
  durationMs: number
  rootCauses: JsonRootCause[]
  checks: JsonCheck[]
}

// The learner's progress file is not the tests' business.
const progress = path.join(os.tmpdir(), `mc-test-progress-${process.pid}.json`)

async function check(
  step: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ report: JsonReport; exitCode: number; stderr: string }> {
  const r = await execa(process.execPath, [CHECKER, step, '--json', ...args], {
    reject: false,
    env: { MINICONTAINER_PROGRESS: progress, ...env },
    timeout: 240_000,
    maxBuffer: 64 * 1024 * 1024,
  })
  let report: JsonReport
  try {
    report = JSON.parse(r.stdout) as JsonReport
  } catch {
    throw new Error(`the checker printed no JSON (exit ${r.exitCode}):\n${r.stdout.slice(0, 2000)}\n${r.stderr.slice(0, 2000)}`)
  }
  return { report, exitCode: r.exitCode ?? -1, stderr: r.stderr }
}

function describeFailures(report: JsonReport): string {
  return report.checks
    .filter((c) => !c.passed)
    .map((c) => `${c.id}: expected ${c.expected}; got ${c.got}\n  ran: ${c.command}`)
    .join('\n')
}

/** Processes of the mutants (only those can be told apart from other checker runs on this machine). */
function mutantStrays(): string[] {
  const strays: string[] = []
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmd.includes(MUTANT_DIR_PREFIX) && !cmd.includes('vitest')) strays.push(`${pid}: ${cmd.slice(0, 100)}`)
    } catch {
      // gone
    }
  }
  return strays
}

describe.skipIf(skipUnlessRootOnLinux())('checker', () => {
  let before: HostSnapshot

  beforeAll(() => {
    before = snapshotHost()
  })

  afterAll(() => {
    fs.rmSync(progress, { force: true })
    expect(hostLeftovers(before), 'left on the host after the whole suite').toEqual([])
    expect(mutantStrays(), 'processes left after the whole suite').toEqual([])
  })

  describe('every solution passes all its checks (and those of the steps before it)', () => {
    for (const step of STEPS) {
      test(`solutions/${step.id}`, async () => {
        const { report, exitCode } = await check(step.id, ['--solution'])
        expect(describeFailures(report), `failures of solutions/${step.id}`).toBe('')
        expect(report.failed).toBe(0)
        expect(exitCode).toBe(0)
        const own = report.checks.filter((c) => c.id.startsWith(step.id.slice(0, 2) + '.'))
        expect(own.length).toBeGreaterThan(0)
      }, 120_000)
    }
  })

  describe('every starter fails its own step\'s checks, and passes the earlier steps\' ones', () => {
    // Named here, so a starter that stops failing a check (or a new check it fails) shows in review.
    const EXPECTED_FAILING: Record<string, string[]> = {
      '01-namespaces': ['01.signal-exit', '01.pid1', '01.hostname', '01.mount', '01.ipc'],
      '02-chroot': ['02.rootfs', '02.host-file', '02.proc', '02.dev-nodes', '02.mounts'],
      '03-cgroups': ['03.oom', '03.oom-exit', '03.no-swap', '03.cpu', '03.pids', '03.cleanup', '03.own-cgroup'],
      '04-network': ['04.netns', '04.lo-up', '04.host-interfaces'],
      // The starter still changes root with chroot: 05.old-root-gone has nothing to find; descriptors are lib's (01.fds).
      '05-pivot-root': ['05.no-way-up', '05.escape'],
      // The starter's root is the image itself, as in step 05; the missing-volume error is given code.
      '06-overlayfs': ['06.overlay', '06.image-unchanged', '06.isolation', '06.cleanup', '06.sweep', '06.volume', '06.volume-ro'],
      // Every door of step 06 still open: no check of step 07 passes.
      '07-security': [
        '07.capabilities', '07.seccomp', '07.refused', '07.cgroup-escape', '07.cgroupns', '07.disk', '07.proc', '07.sys', '07.dev-nodev',
      ],
      '08-networking': ['08.veth', '08.eth0', '08.address', '08.neighbours', '08.route', '08.masquerade', '08.publish', '08.cleanup'],
      '09-images': ['09.pull', '09.verify', '09.reuse', '09.layers', '09.whiteouts', '09.config', '09.entrypoint'],
    }
    for (const step of STEPS) {
      const starter = path.join(PROJECT_ROOT, 'steps', step.id, 'main.js')
      test.skipIf(!fs.existsSync(starter))(`steps/${step.id} fails ${EXPECTED_FAILING[step.id]?.join(', ')}`, async () => {
        const { report, exitCode } = await check(step.id, [])
        const failed = report.checks.filter((c) => !c.passed).map((c) => c.id)
        expect(exitCode).toBe(1)
        expect(failed.sort()).toEqual([...(EXPECTED_FAILING[step.id] ?? [])].sort())
        // The starter's engine runs (its TODOs are missing, not broken): no root cause, and every hint names a
        // TODO of this step, chosen from the evidence.
        expect(report.rootCauses).toEqual([])
        for (const c of report.checks.filter((x) => !x.passed && x.todo)) {
          expect(c.todo, c.id).toMatch(new RegExp(`^${step.id.slice(0, 2)}\\.`))
        }
      }, 120_000)
    }
  })

  describe('every mutant is caught by the check meant for it, and leaves the host clean', () => {
    for (const mutant of MUTANTS) {
      test.skipIf(mutant.cgroupVersion !== undefined && mutant.cgroupVersion !== cgroupVersion())(`${mutant.id} (${mutant.description}) is caught by ${mutant.caughtBy.join(', ')}`, async () => {
        const built = buildMutant(mutant)
        try {
          const hostBefore = snapshotHost()
          const imageBefore = snapshotImage(currentRootfs()?.dir)
          const only = [...new Set([...(mutant.only ?? mutant.caughtBy), 'host.clean'])].join(',')
          const { report, exitCode } = await check(mutant.step, ['--engine', built.engineDir, '--only', only], mutant.env)
          const failed = report.checks.filter((c) => !c.passed).map((c) => c.id)
          expect(exitCode).toBe(1)
          for (const id of mutant.caughtBy) expect(failed, `${id} must catch ${mutant.id}`).toContain(id)
          // The TODO each failure names, from its evidence ('' = none), and the engine's own failure first.
          for (const [id, todo] of Object.entries(mutant.hints ?? {})) {
            expect(report.checks.find((c) => c.id === id)?.todo ?? '', `the TODO ${id} names for ${mutant.id}`).toBe(todo)
          }
          if (mutant.rootCause !== undefined) {
            expect(report.rootCauses[0]?.todo ?? '', `the root cause of ${mutant.id}`).toBe(mutant.rootCause)
          }
          // Whatever the mutant did, the checker repaired it (the rootfs image too).
          expect(hostLeftovers(hostBefore)).toEqual([])
          expect(imageLeaks(imageBefore).map((l) => l.what)).toEqual([])
          expect(mutantStrays()).toEqual([])
        } finally {
          built.remove()
        }
      }, 120_000)
    }
  })

  test('a mutant whose edit no longer matches the solution fails loudly', () => {
    expect(() => mutate('const a = 1\n', [['const b = 2', 'x']], 'example.ts')).toThrow(/exactly once \(found 0 times\)/)
    expect(() => mutate('x x\n', [['x', 'y']], 'example.ts')).toThrow(/found 2 times/)
  })

  test('the human output: ✔/✘ lines, the failure explained, the last line "N passed, N failed"', async () => {
    const mutant = MUTANTS.find((m) => m.id === 'no-ipc')!
    const built = buildMutant(mutant)
    try {
      const r = await execa(process.execPath, [CHECKER, '4', '--engine', built.engineDir, '--only', '01.ipc,01.pid1'], {
        reject: false,
        env: { MINICONTAINER_PROGRESS: progress },
      })
      const lines = r.stdout.trimEnd().split('\n')
      expect(r.exitCode).toBe(1)
      expect(lines.at(-1)).toBe('1 passed, 1 failed')
      expect(r.stdout).toMatch(/✔ 01\.pid1/)
      expect(r.stdout).toMatch(/✘ 01\.ipc/)
      expect(r.stdout).toMatch(/ran: {6}node .*main\.js run .*-- \/bin\/sh -c/)
      expect(r.stdout).toMatch(/expected: the container's IPC namespace/)
      expect(r.stdout).toMatch(/hint: {5}.*TODO\(01\.2\) of step 01, done in .*namespaces\.ts, enterNamespaces\(\)/)
    } finally {
      built.remove()
    }
  }, 60_000)

  test('an engine that fails before its command: its first error and its TODO come first, the failures it causes are marked', async () => {
    const built = buildMutant(MUTANTS.find((m) => m.id === 'dev-no-mountpoint')!)
    try {
      const r = await execa(process.execPath, [CHECKER, '2', '--engine', built.engineDir], { reject: false, env: { MINICONTAINER_PROGRESS: progress, NO_COLOR: '1' } })
      expect(r.exitCode).toBe(1)
      const lines = r.stdout.trimEnd().split('\n')
      // Right after the header: the engine's failure, its error, where it came from, the TODO there.
      expect(lines[1]).toMatch(/^✘ Your engine stopped before running the command in every run \(\d+\): it exited with status 125\. Fix this first\.$/)
      expect(lines[2]).toMatch(/^ {4}error: {4}minicontainer: mount\(\/dev\/null, .*\): ENOENT/)
      expect(r.stdout).toMatch(/^ {4}where: {4}populateDev\(\) at .*rootfs\.ts:\d+$/m)
      expect(r.stdout).toMatch(/^ {4}hint: {5}.*TODO\(02\.1\).*populateDev\(\)/m)
      // Every other failure follows from it: one line each, no second set of hints.
      const failures = lines.filter((l) => /^✘ \d\d\./.test(l))
      expect(failures.length).toBeGreaterThan(5)
      for (const l of failures) expect(l).toMatch(/^✘ \S+ +↳ /)
      expect(r.stdout).not.toMatch(/^ {4}expected: /m)
      expect(lines.at(-1)).toMatch(/^1 passed, \d+ failed$/)
      const json = await check('02-chroot', ['--engine', built.engineDir])
      expect(json.report.rootCauses).toHaveLength(1)
      expect(json.report.rootCauses[0]).toMatchObject({ todo: '02.1', message: expect.stringMatching(/^minicontainer: mount\(/) })
      for (const c of json.report.checks.filter((x) => !x.passed)) expect(c.followsFromRootCause, c.id).toBe(true)
    } finally {
      built.remove()
    }
  }, 60_000)

  test('an engine that does not even parse: the syntax error and its place come first', async () => {
    const built = buildMutant(MUTANTS.find((m) => m.id === 'syntax-error')!)
    try {
      const r = await execa(process.execPath, [CHECKER, '2', '--engine', built.engineDir], { reject: false, env: { MINICONTAINER_PROGRESS: progress, NO_COLOR: '1' } })
      expect(r.exitCode).toBe(1)
      const lines = r.stdout.split('\n')
      expect(lines[1]).toMatch(/^✘ Your engine stopped before running the command in every run .*exited with status 1\./)
      expect(lines[2]).toMatch(/^ {4}error: {4}SyntaxError/)
      expect(r.stdout).toMatch(/^ {4}where: {4}.*network\.ts:\d+$/m)
      expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^1 passed, \d+ failed$/)
    } finally {
      built.remove()
    }
  }, 60_000)

  test('step arguments: 3, 03, step-03, 03-cgroups; a bad one is a usage error', async () => {
    for (const arg of ['3', '03', 'step-03', '03-cgroups', 'cgroups']) {
      const r = await execa(process.execPath, [CHECKER, arg, '--list'], { reject: false })
      expect(r.exitCode, arg).toBe(0)
      expect(r.stdout.split('\n')[0]).toMatch(/^03\.oom /)
      expect(r.stdout).toMatch(/^01\.run /m)
      expect(r.stdout).not.toMatch(/^04\./m)
    }
    const bad = await execa(process.execPath, [CHECKER, '10'], { reject: false })
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toMatch(/no step "10"/)
  })

  test('progress: the learner\'s own step is recorded (passed, or the TODO it fails at), --solution is not; status shows it', async () => {
    // A project of the learner's own, in a temporary folder: steps/01 finished (the solution copied in), steps/02 the
    // starter. lib/ is copied, not linked: the project's root is found from where lib/steps.ts really is.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-learner-project-'))
    const file = path.join(root, 'progress.json')
    try {
      for (const dir of ['bin', 'lib', 'checker', 'learner', 'engine']) {
        fs.cpSync(path.join(PROJECT_ROOT, dir), path.join(root, dir), { recursive: true })
      }
      for (const link of ['node_modules', 'package.json']) fs.symlinkSync(path.join(PROJECT_ROOT, link), path.join(root, link))
      fs.cpSync(path.join(PROJECT_ROOT, 'solutions', '01-namespaces'), path.join(root, 'steps', '01-namespaces'), { recursive: true })
      fs.cpSync(path.join(PROJECT_ROOT, 'steps', '02-chroot'), path.join(root, 'steps', '02-chroot'), { recursive: true })
      fs.cpSync(path.join(PROJECT_ROOT, 'solutions', '02-chroot'), path.join(root, 'solutions', '02-chroot'), { recursive: true })
      const env = { MINICONTAINER_PROGRESS: file, NO_COLOR: '1' }
      const checker = path.join(root, 'checker', 'main.ts')
      const solution = await execa(process.execPath, [checker, '2', '--solution', '--only', '01.run'], { reject: false, env })
      expect(solution.exitCode).toBe(0)
      expect(fs.existsSync(file)).toBe(false) // --solution never counts as the learner's progress
      const one = await execa(process.execPath, [checker, '1'], { reject: false, env })
      expect(one.stdout).toMatch(/^\d+ passed, 0 failed$/m)
      const two = await execa(process.execPath, [checker, '2'], { reject: false, env })
      expect(two.exitCode).toBe(1)
      const recorded = JSON.parse(fs.readFileSync(file, 'utf8'))
      expect(recorded.steps['01-namespaces']).toMatchObject({ passed: true, everPassed: true, failed: [] })
      // The starter of step 02 fails first at its rootfs checks: the TODO the learner is on is one of step 02's.
      expect(recorded.steps['02-chroot']).toMatchObject({ passed: false, todo: expect.stringMatching(/^02\./) })
      const s = await execa(process.execPath, [path.join(root, 'learner', 'status.ts')], { env })
      expect(s.stdout).toMatch(/✔ 01 Namespaces .*solved without hints/)
      expect(s.stdout).toMatch(/✘ 02 A root filesystem .*on TODO\(02\.\d\)/)
      expect(s.stdout).toMatch(/Next: steps\/02-chroot\/README\.md/)
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  }, 120_000)
})
