// A new network namespace also gets the kernel's fallback tunnel devices (sit0, tunl0, ip6tnl0...) when their
// modules are loaded and net.core.fb_tunnels_only_for_init_net is 0: down, without an address. Check 04.netns
// must accept them (the solution cannot refuse them) and nothing else.
//
// For real where the sit module can be loaded (`modprobe sit`; skipped where it is absent, as on a kernel without
// modules), and everywhere with stand-ins: the solution's init adds a veth pair named like two fallback devices
// (sit0/tunl0 where their modules are not loaded) to its new network namespace, down, or up, or with an address.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { FALLBACK_TUNNELS, parseLinks } from '../checker/checks/04-network.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { hostLeftovers, snapshotHost, type HostSnapshot } from './helpers/host.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'
import { buildMutant, type Mutant } from './mutants/mutants.ts'

const CHECKER = path.join(PROJECT_ROOT, 'checker', 'main.ts')
const progress = path.join(os.tmpdir(), `mc-test-progress-fb-${process.pid}.json`)

describe('parseLinks: ip -o link / ip -o addr', () => {
  test('reads names (without @peer), the UP flag and addresses', () => {
    const links = parseLinks(
      [
        '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
        '2: sit0@NONE: <NOARP> mtu 1480 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/sit 0.0.0.0 brd 0.0.0.0',
        '3: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ipip 0.0.0.0 brd 0.0.0.0',
      ].join('\n'),
      [
        '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
        '1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever',
        '3: tunl0    inet 192.0.2.1/24 scope global tunl0\\       valid_lft forever preferred_lft forever',
      ].join('\n'),
    )
    expect(links).toEqual([
      { name: 'lo', up: true, addresses: ['127.0.0.1/8', '::1/128'] },
      { name: 'sit0', up: false, addresses: [] },
      { name: 'tunl0', up: true, addresses: ['192.0.2.1/24'] },
    ])
    expect(FALLBACK_TUNNELS).toEqual(expect.arrayContaining(['sit0', 'tunl0', 'ip6tnl0']))
  })
})

async function check(engineDir: string | undefined, only: string): Promise<{ exitCode: number; failed: string[]; text: string }> {
  const args = [CHECKER, '4', '--json', '--only', only, ...(engineDir ? ['--engine', engineDir] : ['--solution'])]
  const r = await execa(process.execPath, args, { reject: false, env: { MINICONTAINER_PROGRESS: progress }, timeout: 120_000 })
  const report = JSON.parse(r.stdout) as { checks: { id: string; passed: boolean; expected?: string; got?: string }[] }
  return { exitCode: r.exitCode ?? -1, failed: report.checks.filter((c) => !c.passed).map((c) => c.id), text: JSON.stringify(report.checks.filter((c) => !c.passed)) }
}

/** The solution, with stand-in "fallback tunnels" added by init to its new network namespace. */
function standIns(id: string, ...ipCommands: string[][]): Mutant {
  const run = ipCommands.map((args) => `  process.getBuiltinModule('node:child_process').execFileSync('ip', ${JSON.stringify(args)})\n`).join('')
  return { id, description: id, step: '04-network', edits: { 'network.ts': [['  unshare(CLONE_NEWNET)\n', `  unshare(CLONE_NEWNET)\n${run}`]] }, caughtBy: [] }
}

// Two fallback names a new namespace does not have already on this host (where sit is loaded, sit0 is taken).
const present = spawnSync('unshare', ['--net', 'cat', '/proc/net/dev'], { encoding: 'utf8' }).stdout ?? ''
const [A, B] = FALLBACK_TUNNELS.filter((name) => !present.includes(`${name}:`)) as [string, string]
const VETH = ['link', 'add', A, 'type', 'veth', 'peer', 'name', B]
const ONLY = '04.netns,04.host-interfaces,04.lo-up'

describe.skipIf(skipUnlessRootOnLinux())('check 04.netns and fallback tunnel devices', () => {
  let before: HostSnapshot
  beforeAll(() => {
    before = snapshotHost()
  })
  afterAll(() => {
    fs.rmSync(progress, { force: true })
    expect(hostLeftovers(before)).toEqual([])
  })

  const vethWorks = spawnSync('unshare', ['--net', 'ip', ...VETH]).status === 0

  test.skipIf(!vethWorks)(`stand-ins named ${A}/${B}, down and without address, are accepted`, async () => {
    const built = buildMutant(standIns('fb-down', VETH))
    try {
      const r = await check(built.engineDir, ONLY)
      expect(r.failed, r.text).toEqual([])
      expect(r.exitCode).toBe(0)
    } finally {
      built.remove()
    }
  }, 120_000)

  test.skipIf(!vethWorks)('a "fallback" device that is up, or has an address, is not', async () => {
    for (const [id, extra] of [['fb-up', ['link', 'set', A, 'up']], ['fb-address', ['addr', 'add', '192.0.2.1/24', 'dev', B]]] as const) {
      const built = buildMutant(standIns(id, VETH, [...extra]))
      try {
        const r = await check(built.engineDir, '04.netns')
        expect(r.failed, id).toEqual(['04.netns'])
        expect(r.text, id).toMatch(/down, without an address/)
      } finally {
        built.remove()
      }
    }
  }, 120_000)

  test.skipIf(!vethWorks)('any other extra interface is not', async () => {
    const built = buildMutant(standIns('extra-veth', ['link', 'add', 'mc-x0', 'type', 'veth', 'peer', 'name', 'mc-x1']))
    try {
      const r = await check(built.engineDir, '04.netns')
      expect(r.failed).toEqual(['04.netns'])
    } finally {
      built.remove()
    }
  }, 120_000)

  // The real thing: the sit module's sit0 in every new namespace. Absent on kernels without modules (skipped).
  const sitLoaded = (): boolean => /^sit /m.test(fs.readFileSync('/proc/modules', 'utf8'))
  const canLoadSit = fs.existsSync('/proc/modules') && (sitLoaded() || spawnSync('modprobe', ['-n', 'sit']).status === 0)
  test.skipIf(!canLoadSit)('with the sit module loaded, the solution passes 04.netns (its namespace has sit0)', async () => {
    const loadedBefore = sitLoaded()
    if (!loadedBefore) execFileSync('modprobe', ['sit'])
    try {
      const fb = fs.readFileSync('/proc/sys/net/core/fb_tunnels_only_for_init_net', 'utf8').trim()
      const inNewNs = spawnSync('unshare', ['--net', 'cat', '/proc/net/dev'], { encoding: 'utf8' }).stdout
      if (fb === '0') expect(inNewNs).toMatch(/sit0:/)
      const r = await check(undefined, ONLY)
      expect(r.failed, r.text).toEqual([])
    } finally {
      if (!loadedBefore) spawnSync('modprobe', ['-r', 'sit'])
    }
  }, 120_000)
})
