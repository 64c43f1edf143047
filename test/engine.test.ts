// The finished engine of every step, run for real as root against the Alpine rootfs, checked
// from inside the container and from the host (namespaces, cgroup files, kernel counters).
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest'
import { currentRootfs } from '../lib/rootfs/location.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import {
  SOLUTIONS, cgroupDirOf, engineMain, killRunningEngines, layersRoot, scaled, hostCgroupVersion, nsLink, oomKills, readComm, runEngine, runEngineWithDescriptor, sleep, startEngine, type StepId,
} from './helpers/engine.ts'
import { hostLeftovers, snapshotHost, strayProcesses, type HostSnapshot } from './helpers/host.ts'
import { escapeProgram } from '../checker/escape.ts'
import { copyTree, fingerprint } from '../checker/image.ts'
import { removeAllScratch } from '../checker/scratch.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const randomHostname = () => `mc-test-${randomBytes(4).toString('hex')}`
const DEVICE_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty']
/** The checker's static chroot-escape program, where this machine can compile it (the VM may have no compiler). */
const escapeBuild = (() => {
  const build = escapeProgram()
  return 'binary' in build ? build.binary : undefined
})()
afterAll(() => removeAllScratch())
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

    test(from(step, '07-security') ? 'the command may not mount at all (step 07: no CAP_SYS_ADMIN, seccomp)' : 'a mount made inside stays inside', async () => {
      const target = from(step, '02-chroot') ? '/mnt' : fs.mkdtempSync('/tmp/mc-mount-')
      try {
        const r = await runEngine(step, ['run', '/bin/sh', '-c', `mount -t tmpfs none ${target} && grep -c " ${target} " /proc/self/mountinfo`])
        if (from(step, '07-security')) expect(r).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringMatching(/permission denied/) })
        else expect(r).toMatchObject({ exitCode: 0, stdout: '1\n' })
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

    test('not even a descriptor the engine inherited reaches the command (CVE-2024-21626)', async () => {
      const folder = fs.openSync(os.tmpdir(), 'r')
      try {
        // 40: Node itself marks inherited descriptors 3-16 close-on-exec at start-up, and passes higher ones on.
        const r = await runEngineWithDescriptor(step, ['run', '/bin/sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "'], folder, 40)
        expect(r.stdout.trim().split(' ')).toEqual(['0', '1', '2', '3']) // 3: ls's own listing of the folder
      } finally {
        fs.closeSync(folder)
      }
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

    test.runIf(from(step, '04-network'))('network: only lo, up, 127.0.0.1 answers', async () => {
      const r = await runEngine(step, ['run', '/bin/sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ip -o link show lo | grep -c "state UNKNOWN\\|UP"; ping -c1 -W2 127.0.0.1 >/dev/null && echo ping-ok'])
      expect(r.stdout).toBe('lo\n1\nping-ok\n')
    })

    test.runIf(from(step, '02-chroot'))(`the root: ${from(step, '05-pivot-root') ? 'the top of its mount namespace, /.. is /' : "a folder of the host's tree, with the host above it (until step 05)"}`, async () => {
      // Inside, ".." stops at the process's root either way: only the host (or a chroot trick) sees the difference.
      const inside = await runEngine(step, ['run', '/bin/sh', '-c', 'stat -c %i / /.. | uniq | wc -l'])
      expect(inside.stdout.trim()).toBe('1')
      const engine = startEngine(step, ['run', '--', 'sleep', '600']) // ended by the SIGTERM below
      const pid = await engine.initPid()
      const same = (a: string, b: string) => fs.statSync(a).ino === fs.statSync(b).ino && fs.statSync(a).dev === fs.statSync(b).dev
      expect(same(`/proc/${pid}/root/..`, `/proc/${pid}/root`)).toBe(from(step, '05-pivot-root'))
      if (from(step, '05-pivot-root')) {
        // None of the host's mounts is in the container's mount table: its root, /dev and its nodes, /dev/shm, /proc.
        const hostRoot = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => l.split(' ')).filter((f) => f[4] === '/').at(-1)!
        const mounts = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').trim().split('\n').map((l) => l.split(' '))
        expect(mounts.filter((f) => f[2] === hostRoot[2] && f[3] === '/')).toEqual([])
        // From step 07 on, init adds /sys, /sys/fs/cgroup and the masks and read-only binds of /proc and /sys (all
        // of them mounts of the container's own, the checker judges them).
        const engineMounts = mounts.map((f) => f[4]).filter((m) => !from(step, '07-security') || !/^\/(sys|proc\/.)/.test(m!))
        expect(engineMounts).toEqual(['/', '/dev', ...DEVICE_NODES.map((n) => `/dev/${n}`), '/dev/shm', '/proc'])
      }
      engine.process.kill('SIGTERM')
      expect((await engine.result).exitCode).toBe(143)
    })

    test.runIf(from(step, '02-chroot') && escapeBuild !== undefined)(`the chroot escape (man 2 chroot) ${from(step, '05-pivot-root') ? 'finds no way out' : 'reads a host file (until step 05)'}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-test-escape-'))
      try {
        const secret = `secret-${randomBytes(6).toString('hex')}`
        fs.writeFileSync(path.join(dir, 'secret'), secret)
        const rootfs = path.join(dir, 'rootfs')
        for (const folder of ['bin', 'dev', 'proc', 'jail']) fs.mkdirSync(path.join(rootfs, folder), { recursive: true })
        fs.copyFileSync(escapeBuild!, path.join(rootfs, 'escape'))
        fs.chmodSync(path.join(rootfs, 'escape'), 0o755)
        fs.symlinkSync('/escape', path.join(rootfs, 'bin/sh'))
        const r = await runEngine(step, ['run', '--rootfs', rootfs, '--', '/escape', '/jail', path.join(dir, 'secret')], { input: '\n' })
        expect(r.stdout).toContain('@mc escape-chroot-top=ok')
        expect(r.stdout).toContain(from(step, '05-pivot-root') ? '@mc escape-read=error:2' : `@mc escape-read=${secret}`)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })

    test.runIf(!from(step, '06-overlayfs'))('--volume: one line saying it comes with step 06, exit 125', async () => {
      const r = await runEngine(step, ['run', '--volume', `${os.tmpdir()}:/data`, 'true'])
      expect(r.exitCode).toBe(125)
      expect(r.stderr).toContain('volumes come with step 06')
    })

    test.runIf(from(step, '06-overlayfs'))('overlay: writes land in a layer of its own, the image never changes, a second container sees none of it, the layer goes', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-test-image-'))
      try {
        const image = path.join(dir, 'image')
        copyTree(currentRootfs()!.dir, image)
        const before = fingerprint(image)
        const writer = startEngine(step, ['run', '--rootfs', image, '--', '/bin/sh', '-c', 'echo mine > /etc/mc-new; rm /etc/motd; chmod 600 /etc/hostname; rm -r /etc/apk; exec sleep 600'])
        const pid = await writer.initPid()
        const root = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')[0]!
        const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        expect(root).toMatch(new RegExp(` / / .* - overlay overlay .*lowerdir=${quote(image)},upperdir=${quote(layersRoot())}/mc-\\d+-[0-9a-f]+/upper,workdir=`))
        const upper = /upperdir=([^,]+)/.exec(root)![1]!
        // Done writing when the shell has exec'd sleep: before, `rm -r /etc/apk` may be half-way, its folder copied up
        // and not yet a whiteout (seen under the VM's emulation).
        for (let i = 0; i < scaled(250) && readComm(pid) !== 'sleep'; i++) await sleep(20)
        expect(readComm(pid)).toBe('sleep')
        // The layer: the new file, whiteouts (character devices 0/0) for what was deleted, a copy of the chmodded file.
        expect(fs.readFileSync(path.join(upper, 'etc/mc-new'), 'utf8')).toBe('mine\n')
        for (const gone of ['etc/motd', 'etc/apk']) expect(fs.lstatSync(path.join(upper, gone)).rdev, gone).toBe(0)
        expect(fs.lstatSync(path.join(upper, 'etc/apk')).isCharacterDevice()).toBe(true)
        expect(fs.statSync(path.join(upper, 'etc/hostname')).mode & 0o777).toBe(0o600)
        const other = await runEngine(step, ['run', '--rootfs', image, '--', '/bin/sh', '-c', 'cat /etc/mc-new 2>&1; ls /etc/motd; stat -c %a /etc/hostname'])
        expect(other.stdout).toBe("cat: can't open '/etc/mc-new': No such file or directory\n/etc/motd\n644\n")
        writer.process.kill('SIGTERM')
        expect((await writer.result).exitCode).toBe(143)
        expect(fs.existsSync(path.dirname(upper))).toBe(false)
        expect(fingerprint(image).digest).toBe(before.digest)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })

    test.runIf(from(step, '06-overlayfs'))('an engine killed with SIGKILL: its container dies with it, its layer is swept at the next start', async () => {
      const engine = startEngine(step, ['run', '--', 'sleep', '600'])
      await engine.initPid()
      const layer = fs.readdirSync(layersRoot()).filter((n) => n.startsWith(`mc-${engine.process.pid}-`)).map((n) => path.join(layersRoot(), n))
      expect(layer).toHaveLength(1)
      engine.process.kill('SIGKILL')
      await engine.result
      expect(fs.existsSync(layer[0]!)).toBe(true)
      expect((await runEngine(step, ['run', 'true'])).exitCode).toBe(0)
      expect(fs.existsSync(layer[0]!)).toBe(false)
    })

    test.runIf(from(step, '06-overlayfs'))('volumes: a host folder inside, read-write or read-only (EROFS); a missing one is one clear line', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-test-volume-'))
      try {
        fs.writeFileSync(path.join(dir, 'host'), 'from the host\n')
        const rw = await runEngine(step, ['run', '--volume', `${dir}:/srv/data`, '--', '/bin/sh', '-c', 'cat /srv/data/host; echo from the container > /srv/data/container'])
        expect(rw).toMatchObject({ exitCode: 0, stdout: 'from the host\n' })
        expect(fs.readFileSync(path.join(dir, 'container'), 'utf8')).toBe('from the container\n')
        const ro = await runEngine(step, ['run', '-v', `${dir}:/srv/data:ro`, '--', '/bin/sh', '-c', 'cat /srv/data/host; rm /srv/data/host; grep " /srv/data " /proc/self/mountinfo | cut -d" " -f6'])
        expect(ro.stdout).toMatch(/^from the host\nro,/)
        expect(ro.stderr).toContain('Read-only file system')
        expect(fs.existsSync(path.join(dir, 'host'))).toBe(true)
        const missing = path.join(dir, 'no-such-folder')
        const r = await runEngine(step, ['run', '--volume', `${missing}:/data`, 'true'])
        expect(r.exitCode).toBe(125)
        expect(r.stderr.split('\n')[0]).toBe(`minicontainer: --volume ${missing}:/data: the host folder ${missing} does not exist`)
        expect(fs.existsSync(missing)).toBe(false)
        for (const bad of ['nocolon', '/a:relative', '/a:/', '/a:/b:rx']) expect((await runEngine(step, ['run', '--volume', bad, 'true'])).exitCode, bad).toBe(125)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})

describe.skipIf(skipUnlessRootOnLinux())('engine, as a learner meets it', () => {
  test('pivot_root and umount2 refuse to run in the mount namespace the engine started in (the host\'s: they would move every process\'s root)', async () => {
    const { pivotRoot, umount2, MNT_DETACH } = await import('../lib/libc.ts')
    const before = fs.readFileSync('/proc/self/mountinfo', 'utf8')
    expect(() => pivotRoot('.', '.')).toThrow(/refused in the mount namespace the engine started in/)
    expect(() => umount2('/', MNT_DETACH)).toThrow(/umount2\(\/\): refused/)
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(before)
  })

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
