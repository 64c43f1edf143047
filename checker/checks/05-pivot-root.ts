// Step 05: a root nothing walks out of. pivot_root makes the rootfs the root mount of the container's mount
// namespace, the host's old root is unmounted from it, and the command inherits no descriptor of a host folder.
// Judged from the host: /proc/<pid>/root/.., the container's mount table, /proc/<pid>/fd and fdinfo; and for
// real: a compiled chroot escape (escape/chroot-escape.c) that tries to read a token placed outside the rootfs.
import fs from 'node:fs'
import path from 'node:path'
import { errnoName } from '../../lib/errors.ts'
import { fail, requireFact, requireHost, requireLive, type Check, type TodoId } from '../check.ts'
import { escapeProgram } from '../escape.ts'
import { mountsOf, readLink, readText, sameFile, type MountEntry } from '../proc.ts'
import { PAUSE } from '../probe.ts'
import { randomToken } from '../random.ts'
import { removeScratch, scratchDir } from '../scratch.ts'

/** The host's root filesystem: its device and the mount of its whole tree ("/" of it) at the host's "/". */
function hostRootMount(): MountEntry | undefined {
  return (mountsOf('self') ?? []).filter((m) => m.mountPoint === '/').at(-1)
}

/** A mount of the host's whole root filesystem in the container's mount table: the old root, still there. */
function oldRootIn(mounts: MountEntry[]): MountEntry | undefined {
  const host = hostRootMount()
  if (!host) return undefined
  return mounts.find((m) => m.device === host.device && m.root === host.root)
}

/** The likelier TODO, from the evidence: pivot_root done but the old root still mounted -> 05.3, else 05.2. */
function rootHint(mounts: MountEntry[]): TodoId {
  return oldRootIn(mounts) ? '05.3' : '05.2'
}

/** An engine that stopped at pivot_root's EBUSY (a plain folder of the root filesystem) or EINVAL: the rootfs was no mount point. */
function mountPointHint(stderr: string): TodoId | undefined {
  return /pivot_root\(.*(EBUSY|EINVAL)/.test(stderr) ? '05.1' : undefined
}

export const checks: Check[] = [
  {
    id: '05.no-way-up',
    title: "nothing above the container's root: from the host, /proc/PID/root/.. is /proc/PID/root itself",
    why: "with a chroot the host's tree is still there above the container's root, and a root process climbs out of it (man 2 chroot); after pivot_root and the old root's unmount there is nothing above.",
    hint: '05.2',
    async run(ctx) {
      const p = await ctx.shared()
      if (!p.run.sawReady) fail('the container to run', 'it never ran its command', p.run, mountPointHint(p.run.stderr))
      const h = requireHost(p)
      if (h.rootIsHosts) fail("the container's root directory to be its rootfs", "the host's own /", p.run, '05.2')
      if (h.rootHasParent) {
        const old = oldRootIn(h.mounts)
        fail("/proc/<pid>/root/.. to be the same folder as /proc/<pid>/root: the container's root is the top of its mount namespace",
          old ? `a folder above it: the host's root filesystem is still mounted in the container (at ${old.mountPoint}), and ".." from the container's root walks onto it`
            : "the folder above it on the host (the rootfs's parent): the container's root is a folder of the host's tree (a chroot)", p.run, rootHint(h.mounts))
      }
    },
  },
  {
    id: '05.old-root-gone',
    title: "the host's root filesystem is not in the container's mount table",
    why: "pivot_root only moves the old root aside: until it is unmounted, the whole host tree is still in the container's mount namespace, one mount or one `..` away.",
    hint: '05.3',
    async run(ctx) {
      const p = await ctx.shared()
      if (!p.run.sawReady) fail('the container to run', 'it never ran its command', p.run, mountPointHint(p.run.stderr))
      const h = requireHost(p)
      const host = hostRootMount()
      const old = oldRootIn(h.mounts)
      ctx.note(`the container's mount table (/proc/${h.pid}/mountinfo) has ${h.mounts.length} mounts`)
      if (old) {
        const count = h.mounts.filter((m) => m.parent === old.id || m === old).length
        fail(`no mount of the host's root filesystem (device ${host?.device}, ${host?.fsType} ${host?.source}) in /proc/<pid>/mountinfo`,
          `it is mounted at ${old.mountPoint} in the container, with ${count - 1} host mount(s) on it (${h.mounts.filter((m) => m.parent === old.id).slice(0, 4).map((m) => m.mountPoint).join(', ')}...)`, p.run)
      }
    },
  },
  {
    id: '05.escape',
    title: 'the classic chroot escape (a compiled program, as root inside) cannot read a file placed outside the rootfs',
    why: "a container runs programs someone else wrote, as root: if one of them can climb out of its root, it reads and rewrites the host's files. pivot_root plus the old root's unmount leaves nowhere to climb to.",
    hint: '05.2',
    async run(ctx) {
      const build = escapeProgram()
      if ('problem' in build) fail('a C compiler, to build the escape program statically (checker/escape/chroot-escape.c)', `${build.problem}. What to do: ${build.todo}`)
      const dir = scratchDir('escape')
      try {
        // The secret sits next to the throw-away rootfs, outside it; only the checker knows its content.
        const secret = randomToken('secret')
        const secretFile = path.join(dir, 'secret')
        fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 })
        const rootfs = path.join(dir, 'rootfs')
        const jail = `/.mc-jail-${randomToken('j').slice(2)}`
        for (const folder of ['bin', 'dev', 'proc', 'tmp', jail.slice(1)]) fs.mkdirSync(path.join(rootfs, folder), { recursive: true })
        fs.copyFileSync(build.binary, path.join(rootfs, 'chroot-escape'))
        fs.chmodSync(path.join(rootfs, 'chroot-escape'), 0o755)
        fs.symlinkSync('/chroot-escape', path.join(rootfs, 'bin/sh')) // a rootfs needs a bin/sh to be taken for one
        ctx.mark(path.basename(dir))
        let rootIsHosts = false
        const r = await ctx.run({
          flags: ['--rootfs', rootfs],
          command: ['/chroot-escape', jail, secretFile],
          appendToken: true,
          onReady: ({ pid }) => void (pid !== undefined && (rootIsHosts = sameFile(`/proc/${pid}/root`, '/'))),
        })
        if (!r.sawReady) fail('the escape program to run as the container\'s command (a static binary in a tiny rootfs)', `${r.timedOut ? 'a timeout' : `exit status ${r.exitCode}`}, and it never got as far as its "@mc ready"`, r, mountPointHint(r.stderr))
        requireLive(r)
        const read = requireFact(r, 'escape-read')
        const steps = ['escape-chroot', 'escape-chroot-top'].map((k) => `${k}=${describe(r.facts.get(k))}`).join(', ')
        ctx.note(`${steps}; reading ${secretFile}: ${describe(read)}`)
        const escaped = read === secret ? `it read the host file (${steps}): the secret "${secret}"`
          : rootIsHosts ? "after its chroot trick its root directory (/proc/<pid>/root, read from the host) is the host's /"
          : !/^error:/.test(read) ? `it read "${read}" there` : undefined
        if (escaped) {
          // Which TODO: the shared run shows whether the host's old root is still mounted in the container.
          const shared = (await ctx.shared()).host
          fail(`the program to find no way to ${secretFile} (a file on the host, outside the rootfs)`, escaped, r, shared ? rootHint(shared.mounts) : '05.2')
        }
      } finally {
        removeScratch(dir)
      }
    },
  },
  {
    id: '05.fds',
    title: 'no descriptor of the command points outside its root (the checker hands the engine an open host folder)',
    why: 'a descriptor of a host folder that reaches the command is a door out, pivot_root or not: /proc/self/fd/N/.. walks the host\'s tree. That was runc\'s CVE-2024-21626 ("Leaky Vessels"): WORKDIR /proc/self/fd/7.',
    // No TODO: execCommand() (lib/init/container.ts) marks every descriptor from 3 up close-on-exec, since step 01.
    async run(ctx) {
      const dir = scratchDir('leak')
      const fd = fs.openSync(dir, 'r')
      try {
        const secret = randomToken('secret')
        fs.writeFileSync(path.join(dir, 'secret'), `${secret}\n`, { mode: 0o600 })
        ctx.mark(path.basename(dir))
        // A descriptor of the engine's caller, as a terminal, an IDE or a CI runner leaves them: not close-on-exec.
        // Above 16: Node itself marks inherited descriptors 3-16 close-on-exec at start-up (measured, Node 24).
        const number = 20 + Math.floor(Math.random() * 40)
        let outside: string[] = []
        const r = await ctx.run({
          passFds: { [number]: fd },
          script: `echo "@mc fds=$(ls /proc/$$/fd | tr '\\n' ' ')"; s=$(cat /proc/$$/fd/${number}/secret 2>/dev/null) && echo "@mc through-fd=$s"; ${PAUSE}`,
          onReady: ({ pid }) => {
            if (pid !== undefined) outside = descriptorsOutsideRoot(pid, dir, number)
          },
        })
        requireLive(r)
        ctx.note(`the command's descriptors: ${r.facts.get('fds') ?? '?'}`)
        const through = r.facts.get('through-fd')
        if (outside.length) {
          fail("no descriptor of the command (/proc/<pid>/fd) on a mount outside its root (fdinfo's mnt_id not in /proc/<pid>/mountinfo); execCommand() in lib/init/container.ts marks every one from 3 up close-on-exec before execve",
            `${outside.join('; ')}${through === secret ? `; the command read the host's file through it: "${secret}"` : ''}`, r)
        }
        if (through === secret) fail(`the command not to reach ${dir} through an inherited descriptor`, `it read the host file through /proc/self/fd/${number}: "${secret}"`, r)
      } finally {
        fs.closeSync(fd)
        removeScratch(dir)
      }
    },
  },
]

/**
 * The descriptors of `pid` whose file lies on a mount the process cannot see from its root: fdinfo's mnt_id
 * is not one of the mounts of /proc/<pid>/mountinfo (which lists only the mounts under its root).
 * Pipes, sockets and anonymous inodes live on internal mounts and point nowhere.
 */
function descriptorsOutsideRoot(pid: number, given: string, givenNumber: number): string[] {
  const visible = new Set((mountsOf(pid) ?? []).map((m) => m.id))
  const out: string[] = []
  let fds: string[] = []
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`)
  } catch {
    return out
  }
  for (const fd of fds) {
    const target = readLink(`/proc/${pid}/fd/${fd}`)
    if (!target || /^(pipe|socket|anon_inode):/.test(target) || target.startsWith('/memfd:')) continue
    const mountId = /^mnt_id:\s*(\d+)/m.exec(readText(`/proc/${pid}/fdinfo/${fd}`) ?? '')?.[1]
    if (mountId === undefined || visible.has(mountId)) continue
    const ours = sameFile(`/proc/${pid}/fd/${fd}`, given) ? ` (the folder the checker handed the engine as fd ${givenNumber})` : ''
    out.push(`fd ${fd} -> ${target}${ours}`)
  }
  return out
}

/** "ok", or "error:2" -> "ENOENT". */
function describe(value: string | undefined): string {
  if (value === undefined) return 'not reported'
  const errno = /^error:(\d+)$/.exec(value)?.[1]
  return errno ? errnoName(Number(errno))[0] : value
}
