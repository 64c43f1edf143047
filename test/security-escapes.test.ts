// The escapes of checker/security-escapes.ts, run for real against the last engine that leaves the doors open: each
// one must SUCCEED there (a check that shows a door shut must first be able to see it open), be judged from
// the host, and leave nothing behind (no loop device, no image, no cgroup, no mount, no process).
import fs from 'node:fs'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { cgroupVersion, readLimits, type CgroupLimits } from '../checker/cgroups.ts'
import {
  cgroupEscapeScript, diskEscapeScript, kernelLog, kernelLogEnd, kernelLogSince, makeLoopDisk, removeLoopDisk, removeLoopDisksNow,
  sysrqScript, whyNoLoopDisk,
} from '../checker/security-escapes.ts'
import { mountsOf, readText } from '../checker/proc.ts'
import { PAUSE } from '../checker/probe.ts'
import { runEngine } from '../checker/runner.ts'
import { cgroupLayout } from '../lib/cgroup-layout.ts'
import { stepDir, STEPS } from '../lib/steps.ts'
import { hostLeftovers, snapshotHost, strayProcesses, type HostSnapshot } from './helpers/host.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

/** The last step whose engine has no step-07 protections, and step 07. */
const OPEN = STEPS.filter((s) => s.number < 7).at(-1)!
const SHUT = STEPS.find((s) => s.id === '07-security')
const loopDevices = (): string => fs.readdirSync('/sys/block').filter((n) => n.startsWith('loop') && fs.existsSync(`/sys/block/${n}/loop/backing_file`)).join(' ')

describe('cgroupLayout: the host\'s hierarchies as a container mounts them', () => {
  test('v1 (hybrid) mountinfo', () => {
    const mountinfo = [
      '30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
      '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
      '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct',
      '36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory',
      '37 30 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,noprefix,release_agent=/x',
      '38 25 0:34 / /mnt/elsewhere rw - cgroup cgroup rw,pids',
    ].join('\n')
    expect(cgroupLayout(mountinfo).hierarchies).toEqual([
      { dir: 'unified', fsType: 'cgroup2', options: '' },
      { dir: 'systemd', fsType: 'cgroup', options: 'name=systemd' },
      { dir: 'cpu,cpuacct', fsType: 'cgroup', options: 'cpu,cpuacct' },
      { dir: 'memory', fsType: 'cgroup', options: 'memory' },
      { dir: 'cpuset', fsType: 'cgroup', options: 'cpuset' },
    ])
  })

  test('v2 mountinfo: one cgroup2 on /sys/fs/cgroup itself, no links', () => {
    const layout = cgroupLayout('28 23 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot')
    expect(layout).toEqual({ hierarchies: [{ dir: '', fsType: 'cgroup2', options: '' }], links: [] })
  })

  test('this host', () => {
    const layout = cgroupLayout()
    expect(layout.hierarchies.length).toBeGreaterThan(0)
    if (cgroupVersion() === 2) expect(layout.hierarchies[0]).toEqual({ dir: '', fsType: 'cgroup2', options: '' })
    else expect(layout.hierarchies.map((h) => h.options)).toContain('memory')
  })
})

/** Every test of the block leaves the host as it found it: mounts, cgroups, processes, loop devices. */
function leavesTheHostAsFound(): void {
  let before: HostSnapshot
  let loopsBefore: string
  beforeEach(() => {
    before = snapshotHost()
    loopsBefore = loopDevices()
  })
  afterEach(() => {
    removeLoopDisksNow()
    expect(hostLeftovers(before)).toEqual([])
    expect(strayProcesses()).toEqual([])
    expect(loopDevices()).toBe(loopsBefore)
  })
}

describe.skipIf(skipUnlessRootOnLinux())(`the escapes, against solutions/${OPEN.id}: every door open`, () => {
  const engine = stepDir(OPEN, 'solutions')
  leavesTheHostAsFound()

  test('cgroup: mounts cgroupfs, moves itself into the root cgroup, and 200 MB fit under a 100 MB limit', async () => {
    let cgroupFile: string | undefined
    let limits: CgroupLimits | undefined
    const r = await runEngine(engine, {
      script: cgroupEscapeScript(cgroupVersion(), PAUSE),
      onReady: ({ pid }) => {
        cgroupFile = readText(`/proc/${pid}/cgroup`)
        limits = readLimits(pid!)
      },
    })
    expect(r.facts.get('mount')).toBe('0')
    expect(r.facts.get('moved')).toBe('0')
    // From the host: the probe's shell is in the root cgroup of the memory controller now.
    const memoryLine = cgroupFile!.split('\n').find((l) => (cgroupVersion() === 2 ? l.startsWith('0::') : /:memory:/.test(l)))
    expect(memoryLine).toMatch(/:\/$/)
    expect(r.facts.get('dd')).toBe('0')
    expect(limits?.oomKills ?? 0).toBe(0)
  })

  test.skipIf(whyNoLoopDisk() !== undefined)('disk: mknod of the checker\'s loop device, mounted read-only, its token read', async () => {
    const disk = makeLoopDisk()
    let mounted: string[] = []
    try {
      const r = await runEngine(engine, {
        script: diskEscapeScript(disk, PAUSE),
        onReady: ({ pid }) => {
          mounted = (mountsOf(pid!) ?? [])
            .filter((m) => m.line.split(' ')[2] === `${disk.major}:${disk.minor}`)
            .map((m) => `${m.mountPoint} ${m.fsType}`)
        },
      })
      expect(r.facts.get('mknod-dev')).toBe('0')
      expect(r.facts.get('token-dev')).toBe(disk.token)
      expect(r.facts.get('raw-dev')).toBe(disk.token)
      expect(mounted).toEqual(['/mnt ext4', '/media ext4'])
    } finally {
      await removeLoopDisk(disk)
    }
    expect(fs.existsSync(disk.image)).toBe(false)
  })

  test('sysrq: `h` reaches the kernel where it has /proc/sysrq-trigger (its help in the kernel log)', async () => {
    const before = kernelLogEnd()
    const r = await runEngine(engine, { script: `${sysrqScript()}; ${PAUSE}`, onReady: () => {} })
    if (!fs.existsSync('/proc/sysrq-trigger')) {
      expect(r.facts.get('sysrq')).toBe('missing') // this kernel has no magic SysRq (CONFIG_MAGIC_SYSRQ off)
      return
    }
    expect(r.facts.get('sysrq')).toBe('0')
    expect(kernelLogSince(before, /sysrq.*HELP/i).length).toBeGreaterThan(0)
  })

  test('the kernel log can be read from the host (the sysrq check needs it)', () => {
    expect(kernelLog()?.length).toBeGreaterThan(0)
  })
})

describe.skipIf(!SHUT || skipUnlessRootOnLinux())('the same escapes, against solutions/07-security: every door shut', () => {
  const engine = SHUT ? stepDir(SHUT, 'solutions') : ''
  leavesTheHostAsFound()

  test('cgroup: the mount is refused, /sys/fs/cgroup is read-only, the shell stays in its cgroup and dd is OOM-killed', async () => {
    let cgroupFile: string | undefined
    let limits: CgroupLimits | undefined
    const r = await runEngine(engine, {
      script: cgroupEscapeScript(cgroupVersion(), PAUSE),
      onReady: ({ pid }) => {
        cgroupFile = readText(`/proc/${pid}/cgroup`)
        limits = readLimits(pid!)
      },
    })
    expect(r.facts.get('mount')).toMatch(/^[1-9]\d* mount: permission denied/)
    expect(r.facts.has('moved')).toBe(false)
    for (const line of r.stdout.match(/^@mc unlimit=.*$/gm) ?? []) expect(line).toMatch(/Read-only file system/)
    const memoryLine = cgroupFile!.split('\n').find((l) => (cgroupVersion() === 2 ? l.startsWith('0::') : /:memory:/.test(l)))
    expect(memoryLine).toMatch(/\/minicontainer\/mc-/)
    expect(r.facts.get('dd')).toBe('137')
    expect(limits?.oomKills).toBeGreaterThan(0)
  })

  test.skipIf(whyNoLoopDisk() !== undefined)('disk: mknod refused with EPERM in /dev and in /tmp, the token unread, nothing mounted', async () => {
    const disk = makeLoopDisk()
    let mounted: string[] = []
    try {
      const r = await runEngine(engine, {
        script: diskEscapeScript(disk, PAUSE),
        onReady: ({ pid }) => {
          mounted = (mountsOf(pid!) ?? []).filter((m) => m.line.split(' ')[2] === `${disk.major}:${disk.minor}`).map((m) => m.mountPoint)
        },
      })
      expect(r.facts.get('mknod-dev')).toMatch(/Operation not permitted/)
      expect(r.facts.get('mknod-tmp')).toMatch(/Operation not permitted/)
      expect(r.stdout).not.toContain(disk.token)
      expect(mounted).toEqual([])
    } finally {
      expect(await removeLoopDisk(disk)).toBeUndefined()
    }
  })

  test('sysrq: the write is refused (read-only), and the kernel log stays quiet', async () => {
    const before = kernelLogEnd()
    const r = await runEngine(engine, { script: `${sysrqScript()}; ${PAUSE}`, onReady: () => {} })
    if (!fs.existsSync('/proc/sysrq-trigger')) {
      expect(r.facts.get('sysrq')).toBe('missing')
      return
    }
    expect(r.facts.get('sysrq')).toMatch(/Read-only file system/)
    expect(kernelLogSince(before, /sysrq/i)).toEqual([])
  })
})
