// The finished engine of every step, run for real as root against the Alpine rootfs, checked
// from inside the container and from the host (namespaces, cgroup files, kernel counters).
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { currentRootfs } from '../lib/rootfs/location.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import {
  SOLUTIONS, cgroupDirOf, engineMain, killRunningEngines, scaled, hostCgroupVersion, nsLink, oomKills, readComm, runEngine, sleep, startEngine, type StepId,
} from './helpers/engine.ts'
import { hostLeftovers, snapshotHost, strayProcesses, type HostSnapshot } from './helpers/host.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const randomHostname = () => `mc-test-${randomBytes(4).toString('hex')}`
const from = (step: StepId, first: StepId) => SOLUTIONS.indexOf(step) >= SOLUTIONS.indexOf(first)

describe.skipIf(skipUnlessRootOnLinux())('engine', () => {
  let before: HostSnapshot
  beforeEach(() => {
    before = snapshotHost()
  })
  afterEach(async () => {
    await killRunningEngines()
    // Nothing left on the host after any run: same hostname, mounts, cgroups, no stray process.
    expect(hostLeftovers(before)).toEqual([])
    expect(strayProcesses()).toEqual([])
  })

  describe.each(SOLUTIONS)('solutions/%s', (step) => {
    test('the command becomes PID 1, exit statuses pass through', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', 'echo $$; exit 3'])
      expect(r).toMatchObject({ exitCode: 3, stdout: '1\n' })
      expect((await runEngine(step, ['run', '/bin/true'])).exitCode).toBe(0)
      // Even SIGKILL from inside the namespace cannot kill its init: the kernel protects PID 1.
      expect((await runEngine(step, ['run', '/bin/sh', '-c', 'kill -KILL $$; echo survived'])).stdout).toBe('survived\n')
    })

    test('hostname: the default, a random one, and the host keeps its own', async () => {
      const name = randomHostname()
      expect((await runEngine(step, ['run', 'hostname'])).stdout).toBe('container\n')
      expect((await runEngine(step, ['run', '--hostname', name, '--', 'hostname'])).stdout).toBe(`${name}\n`)
      expect(os.hostname()).toBe(before.hostname)
    })

    test('namespaces differ from the host\'s, seen from the host', async () => {
      const engine = startEngine(step, ['run', '--', 'sleep', '600']) // ended by the SIGTERM below
      const pid = await engine.initPid()
      const namespaces = ['pid', 'uts', 'mnt', 'ipc', ...(from(step, '04-network') ? ['net'] as const : [])] as const
      for (const ns of namespaces) {
        expect(nsLink(pid, ns), ns).toMatch(/^\w+:\[\d+\]$/)
        expect(nsLink(pid, ns), ns).not.toBe(nsLink('self', ns))
      }
      if (!from(step, '04-network')) expect(nsLink(pid, 'net')).toBe(nsLink('self', 'net'))
      engine.process.kill('SIGTERM')
      expect((await engine.result).exitCode).toBe(143) // sleep as PID 1 ignores SIGTERM: the engine kills it
    })

    test('a mount made inside stays inside', async () => {
      const target = from(step, '02-chroot') ? '/mnt' : fs.mkdtempSync('/tmp/mc-mount-')
      try {
        const r = await runEngine(step, ['run', '/bin/sh', '-c', `mount -t tmpfs none ${target} && grep -c " ${target} " /proc/self/mountinfo`])
        expect(r).toMatchObject({ exitCode: 0, stdout: '1\n' })
      } finally {
        if (!from(step, '02-chroot')) fs.rmdirSync(target)
      }
    })

    test('bad flags and a missing command: one clear line, exit 125, no stack trace', async () => {
      for (const args of [['run', '--memory', 'lots', 'true'], ['run', '--hostname', '-bad-', 'true'], ['run'], ['jump'], ['run', '--cpus', '0', 'true']]) {
        const r = await runEngine(step, args)
        expect(r.exitCode, args.join(' ')).toBe(125)
        expect(r.stderr).toMatch(/^minicontainer: .+/)
        expect(r.stderr).not.toMatch(/\n\s+at /)
      }
    })

    test('127 when the command does not exist, 126 when it cannot run', async () => {
      const missing = await runEngine(step, ['run', 'no-such-command-here'])
      expect(missing.exitCode).toBe(127)
      expect(missing.stderr).toContain('no-such-command-here: command not found')
      expect((await runEngine(step, ['run', '/etc/passwd'])).exitCode).toBe(126)
    })

    test('the command gets no ignored signals and no stray file descriptors', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', 'grep SigIgn /proc/self/status; ls /proc/self/fd | sort -n | tr "\\n" " "'])
      expect(r.stdout).toMatch(/SigIgn:\s*0+\n0 1 2 3 $/) // 3: ls's own listing of the folder
    })

    test.runIf(from(step, '02-chroot'))('Alpine rootfs: os-release, /proc of its own, /dev, cwd and environment', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', '. /etc/os-release; echo $ID; pwd; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; echo $PATH $HOME; ps -o pid= | tr -d " " | tr "\\n" " "'])
      const [id, cwd, zeros, nullOk, env, pids] = r.stdout.split('\n')
      expect([id, cwd, zeros, nullOk, env]).toEqual(['alpine', '/', '4', 'null-ok', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root'])
      // Only the container's processes, numbered from 1: sh, ps and the pipeline's tr processes.
      const seen = pids!.trim().split(' ').map(Number)
      expect(seen).toContain(1)
      expect(seen.length).toBeLessThanOrEqual(4)
      expect(Math.max(...seen)).toBeLessThan(100)
      const hostFile = `/tmp/mc-host-only-${randomBytes(4).toString('hex')}`
      fs.writeFileSync(hostFile, 'secret')
      try {
        expect((await runEngine(step, ['run', 'cat', hostFile])).exitCode).toBe(1)
      } finally {
        fs.rmSync(hostFile)
      }
    })

    test.runIf(from(step, '02-chroot'))('a missing rootfs: exit 125 and how to install one', async () => {
      const r = await runEngine(step, ['run', '--rootfs', '/nonexistent-rootfs', 'true'])
      expect(r.exitCode).toBe(125)
      expect(r.stderr).toContain('rootfs /nonexistent-rootfs does not exist')
      expect(currentRootfs()).toBeDefined()
    })

    test.runIf(from(step, '03-cgroups'))('a 200 MB allocation is OOM-killed under the 100 MB limit, by the kernel\'s counter; 50 MB survives', async () => {
      for (const [size, expectedKills] of [['200M', 1], ['50M', 0]] as const) {
        // dd is not PID 1, so the container lives on after the kill and its cgroup can be read.
        const engine = startEngine(step, ['run', '/bin/sh', '-c', `dd if=/dev/zero of=/dev/null bs=${size} count=1 2>/dev/null; exec sleep 600`]) // ended by the SIGTERM below
        const memory = cgroupDirOf(await engine.initPid(), 'memory')
        const pid = await engine.initPid()
        for (let i = 0; i < scaled(250) && readComm(pid) !== 'sleep'; i++) await sleep(20) // dd is over
        const kills = oomKills(memory)
        expect(kills, `oom_kill in ${memory} after dd bs=${size}`).toBe(expectedKills)
        engine.process.kill('SIGTERM')
        await engine.result
        expect(fs.existsSync(memory)).toBe(false)
      }
      const killed = await runEngine(step, ['run', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1'])
      expect(killed.exitCode).toBe(137)
      expect(killed.stderr).toContain("minicontainer: the kernel's OOM killer stopped the command")
      const fine = await runEngine(step, ['run', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=50M', 'count=1'])
      expect(fine.exitCode).toBe(0)
      expect(fine.stderr).not.toContain('OOM')
    })

    test.runIf(from(step, '03-cgroups'))('limits in the kernel\'s files: memory without swap, CPU quota, pids; the CPU limit holds', async () => {
      const engine = startEngine(step, ['run', '--memory', '64MB', '--cpus', '0.5', '--pids', '42', '--', '/bin/sh', '-c', 'while :; do :; done'])
      const pid = await engine.initPid()
      const [memory, cpu, pids] = [cgroupDirOf(pid, 'memory'), cgroupDirOf(pid, 'cpu'), cgroupDirOf(pid, 'pids')]
      expect(memory).toMatch(/\/minicontainer\/mc-\d+-[0-9a-f]+$/)
      const read = (dir: string, file: string) => fs.readFileSync(`${dir}/${file}`, 'utf8').trim()
      if (hostCgroupVersion() === 2) {
        expect(read(memory, 'memory.max')).toBe(String(64 * 1024 ** 2))
        if (fs.existsSync(`${memory}/memory.swap.max`)) expect(read(memory, 'memory.swap.max')).toBe('0')
        expect(read(cpu, 'cpu.max')).toBe('50000 100000')
      } else {
        expect(read(memory, 'memory.limit_in_bytes')).toBe(String(64 * 1024 ** 2))
        if (fs.existsSync(`${memory}/memory.memsw.limit_in_bytes`)) expect(read(memory, 'memory.memsw.limit_in_bytes')).toBe(String(64 * 1024 ** 2))
        expect(read(cpu, 'cpu.cfs_quota_us')).toBe('50000')
        expect(read(cpu, 'cpu.cfs_period_us')).toBe('100000')
      }
      expect(read(pids, 'pids.max')).toBe('42')
      // The busy loop gets about half a CPU: its CPU time over a wall interval, read from /proc.
      const cpuTime = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0)
      const [t0, c0] = [performance.now(), cpuTime()]
      await sleep(1500)
      const USER_HZ = 100 // /proc/PID/stat counts CPU time in 1/100 s
      const share = (cpuTime() - c0) / USER_HZ / ((performance.now() - t0) / 1000)
      expect(share).toBeGreaterThan(0.1) // it runs, even on a busy machine
      expect(share).toBeLessThan(0.65) // and never gets more than its half CPU
      engine.process.kill('SIGINT')
      expect((await engine.result).exitCode).toBe(130)
      expect(fs.existsSync(memory) || fs.existsSync(cpu) || fs.existsSync(pids)).toBe(false)
    })

    test.runIf(from(step, '03-cgroups'))('two containers at once: both work, both clean up', async () => {
      const names = [randomHostname(), randomHostname()]
      const results = await Promise.all(names.map((name) => runEngine(step, ['run', '--hostname', name, '--', '/bin/sh', '-c', 'sleep 0.3; hostname'])))
      expect(results.map((r) => r.stdout.trim())).toEqual(names)
      expect(results.map((r) => r.exitCode)).toEqual([0, 0])
    })

    test.runIf(from(step, '04-network'))('network: only lo (and from step 08 eth0), up, 127.0.0.1 answers', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" " "; echo; ip -o link show lo | grep -c "state UNKNOWN\\|UP"; ping -c1 -W2 127.0.0.1 >/dev/null && echo ping-ok'])
      expect(r.stdout).toBe(`${from(step, '08-networking') ? 'eth0 lo ' : 'lo '}\n1\nping-ok\n`)
    })

    test.runIf(from(step, '08-networking'))('network: eth0 with an address of 10.99.0.0/24, a default route, the bridge answers', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', 'ip -4 addr show eth0 | grep -o "inet [0-9./]*"; ip route | grep default; ping -c1 -W2 10.99.0.1 >/dev/null && echo gateway-ok'])
      expect(r.stdout).toMatch(/^inet 10\.99\.0\.\d+\/24\ndefault via 10\.99\.0\.1 dev eth0 *\ngateway-ok\n$/)
      expect(r.exitCode).toBe(0)
    })
  })
})

describe.skipIf(skipUnlessRootOnLinux())('engine, as a learner meets it', () => {
  test('a terminal stays a terminal (`run /bin/sh` is interactive)', async () => {
    // util-linux `script` gives the engine a pseudo-terminal, as a real terminal would.
    const command = `${process.execPath} ${engineMain('04-network')} run /bin/sh -c 'test -t 0 && test -t 1 && echo is-a-tty'`
    const r = await execa('script', ['-qec', command, '/dev/null'], { reject: false, timeout: scaled(30_000) })
    expect(r.stdout).toContain('is-a-tty')
    expect(r.exitCode).toBe(0)
  })

  test('not root: one line saying so, exit 125', async () => {
    // An ordinary user who can still read the repository wherever the clone lives (a private 700 folder too):
    // uid 65534 keeps CAP_DAC_READ_SEARCH, and nothing else, across the exec.
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+dac_read_search',
      '--ambient-caps=+dac_read_search', '--', process.execPath, engineMain('04-network'), 'run', 'true'], { reject: false })
    expect(r.exitCode).toBe(125)
    expect(r.stderr).toBe('minicontainer: creating namespaces, mounts and cgroups needs root\nminicontainer: hint: run it with sudo')
  })

  test('not Linux: one line pointing to the workshop VM, exit 125 (macOS simulated with a preload)', async () => {
    const preload = path.join(PROJECT_ROOT, 'test/fixtures/pretend-macos.ts')
    const r = await execa(process.execPath, ['--import', preload, engineMain('04-network'), 'run', 'true'], { reject: false })
    expect(r.exitCode).toBe(125)
    expect(r.stderr).toBe('minicontainer: containers need the Linux kernel, and this is macOS\n' +
      'minicontainer: hint: work inside the workshop VM: see vagrant/README.md (`vagrant up`, then `vagrant ssh`)')
  })

  test('no rootfs installed: says how to install it', async () => {
    const r = await execa(process.execPath, [engineMain('02-chroot'), 'run', 'true'], { reject: false, env: { MINICONTAINER_HOME: '/var/tmp/mc-no-such-home' } })
    expect(r.exitCode).toBe(125)
    expect(r.stderr).toContain('no Alpine rootfs installed')
    expect(r.stderr).toContain('npm run rootfs')
  })

  test('--help prints the usage on stdout and exits 0', async () => {
    const r = await execa(process.execPath, [engineMain('04-network'), 'run', '--help'], { reject: false })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/^usage: main.ts run /)
  })
})
