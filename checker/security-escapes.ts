// The escapes the step 07 checks try from inside a container, and what they need on the host: a small disk
// the checker makes (a loop device over an ext4 image holding a random token: never one of the host's disks),
// and the kernel log, to see whether a write to /proc/sysrq-trigger reached the kernel. Each escape is a
// /bin/sh script for the probe (busybox's applets only); what it prints is a clue, what the host reads
// (/proc/<pid>/cgroup, the oom_kill counter, /proc/<pid>/mountinfo, the kernel log) is the proof.
// Whatever an escape achieves is undone: the process is killed with its container, its mounts die with its
// mount namespace, the loop device is detached and the image deleted (also on Ctrl-C).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomToken } from './random.ts'
import { sleep } from './proc.ts'

// ---- The disk ---------------------------------------------------------------------------------------------
export interface LoopDisk {
  /** /dev/loopN */
  device: string
  major: number
  minor: number
  /** The random text in the file `token` at the root of its filesystem. */
  token: string
  /** Another random name, for the device nodes the escape makes (the container never learns the token). */
  nodeName: string
  /** The image file behind it. */
  image: string
}

/** Loop devices (and images) this checker attached and has not detached yet: detached even on Ctrl-C. */
const attached = new Set<LoopDisk>()

function run(argv: string[]): { ok: boolean; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() }
}

/** Why the checker cannot make a loop disk here, or undefined when it can. */
export function whyNoLoopDisk(): string | undefined {
  if (!fs.existsSync('/dev/loop-control')) return 'this kernel has no loop devices (/dev/loop-control is missing)'
  for (const tool of ['mkfs.ext4', 'losetup']) if (!run([tool, '-V']).ok) return `${tool} is not installed (Debian/Ubuntu: apt-get install e2fsprogs util-linux)`
  return undefined
}

/**
 * A 4 MB ext4 image holding `token` (random), attached READ-ONLY to a free loop device. The container is
 * told only its device numbers: reading the token proves it opened and mounted the disk.
 */
export function makeLoopDisk(): LoopDisk {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-disk-'))
  const image = `${dir}.img`
  const token = randomToken('disk')
  try {
    fs.writeFileSync(path.join(dir, 'token'), `${token}\n`)
    const mkfs = run(['mkfs.ext4', '-q', '-F', '-O', '^has_journal', '-d', dir, image, '4M'])
    if (!mkfs.ok) throw new Error(`mkfs.ext4 failed: ${mkfs.out}`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const losetup = run(['losetup', '--find', '--show', '--read-only', image])
  if (!losetup.ok || !losetup.out.startsWith('/dev/loop')) {
    fs.rmSync(image, { force: true })
    throw new Error(`losetup --find --show --read-only ${image} failed: ${losetup.out}`)
  }
  const device = losetup.out.split('\n')[0]!.trim()
  const rdev = fs.statSync(device).rdev
  const disk: LoopDisk = { device, major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((Math.floor(rdev / 4096)) & 0xfff00), token, nodeName: randomToken('node'), image }
  attached.add(disk)
  return disk
}

/** Whether the loop device is still attached to our image. */
function stillAttached(disk: LoopDisk): boolean {
  const name = path.basename(disk.device)
  try {
    return fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim().startsWith(disk.image)
  } catch {
    return false
  }
}

/**
 * Detaches the loop device and deletes the image. A device still mounted somewhere (a container's mount
 * namespace that is not gone yet) is set to detach itself when its last user lets go (autoclear): waits for
 * that a while. Returns what still holds it, or undefined when it is gone: a mount left on the host by a broken
 * engine keeps it until the host's repair unmounts it, and then the kernel detaches it by itself.
 */
export async function removeLoopDisk(disk: LoopDisk): Promise<string | undefined> {
  for (let attempt = 0; attempt < 50 && stillAttached(disk); attempt++) {
    run(['losetup', '--detach', disk.device])
    if (stillAttached(disk)) await sleep(40)
  }
  fs.rmSync(disk.image, { force: true })
  if (!stillAttached(disk)) {
    attached.delete(disk)
    return undefined
  }
  return `${disk.device} is still in use (findmnt ${disk.device}); set to detach itself when its last user lets go`
}

/** Ctrl-C and the end of a run: detach whatever is left. */
export function removeLoopDisksNow(): void {
  for (const disk of attached) {
    run(['losetup', '--detach', disk.device])
    fs.rmSync(disk.image, { force: true })
  }
  attached.clear()
}

// ---- The kernel log -----------------------------------------------------------------------------------------
/** The records of /dev/kmsg ("prio,seq,usec,flags;text"), read without waiting for new ones. */
export function kernelLog(): { seq: number; text: string }[] | undefined {
  let fd: number
  try {
    fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  } catch {
    return undefined
  }
  const out: { seq: number; text: string }[] = []
  const buffer = Buffer.alloc(8192)
  try {
    for (;;) {
      let n: number
      try {
        n = fs.readSync(fd, buffer, 0, buffer.length, null)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'EPIPE') continue // a record was overwritten while reading: go on with the next
        break // EAGAIN: no more records
      }
      if (n <= 0) break
      const record = buffer.toString('utf8', 0, n)
      const m = /^\d+,(\d+),\d+,[^;]*;(.*)/.exec(record)
      if (m) out.push({ seq: Number(m[1]), text: m[2]! })
    }
  } finally {
    fs.closeSync(fd)
  }
  return out
}

/** The last sequence number in the kernel log (or -1). */
export function kernelLogEnd(): number {
  return kernelLog()?.at(-1)?.seq ?? -1
}

/** Kernel log lines after sequence number `after` that match `pattern`. */
export function kernelLogSince(after: number, pattern: RegExp): string[] {
  return (kernelLog() ?? []).filter((r) => r.seq > after && pattern.test(r.text)).map((r) => r.text)
}

// ---- The scripts ------------------------------------------------------------------------------------------
/**
 * Leaves its memory limit two ways, then allocates 200 MB (the limit is 100 MB):
 * 1. mounts a cgroup filesystem of its own and writes its PID into the ROOT cgroup's cgroup.procs (without a
 *    cgroup namespace the new mount's root is the host's root cgroup);
 * 2. writes "no limit" into its own cgroup's files, through /sys/fs/cgroup and through its own mount (v1: a
 *    writable cgroupfs lets root do it; v2 mounted nsdelegate, as systemd does, refuses writes to a cgroup namespace's own root, whatever the mount).
 */
export function cgroupEscapeScript(version: 1 | 2, pause: string): string {
  const mount = version === 2 ? 'mount -t cgroup2 none /mnt' : 'mount -t cgroup -o memory none /mnt'
  // Its own limit files: in the read-only /sys/fs/cgroup, and at the top of its own mount (the container's cgroup,
  // when a cgroup namespace roots the mount there).
  const ownLimit = version === 2
    ? ['/sys/fs/cgroup/memory.swap.max max', '/sys/fs/cgroup/memory.max max', '/mnt/memory.swap.max max', '/mnt/memory.max max']
    : ['/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes -1', '/sys/fs/cgroup/memory/memory.limit_in_bytes -1', '/mnt/memory.memsw.limit_in_bytes -1', '/mnt/memory.limit_in_bytes -1']
  return [
    `e=$(${mount} 2>&1); echo "@mc mount=$? $e"`,
    // $$ is the shell itself, also inside $( ): the write moves the probe's own shell.
    'if [ -e /mnt/cgroup.procs ]; then e=$( { echo $$ > /mnt/cgroup.procs; } 2>&1 ); echo "@mc moved=$? $e"; fi',
    `for w in ${ownLimit.map((x) => `'${x}'`).join(' ')}; do set -- $w; if [ -e $1 ]; then e=$( { echo $2 > $1; } 2>&1 ); echo "@mc unlimit=$? $1 $e"; fi; done`,
    `echo "@mc cgroup=$(grep -E '^0::|:memory:' /proc/self/cgroup | tr '\\n' ' ')"`,
    'dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo "@mc dd=$?"',
    pause,
  ].join('; ')
}

/**
 * mknod a block device for the checker's loop disk, in /dev (a tmpfs) and in /tmp (the rootfs: from step 06 an
 * overlay whose upper layer goes with the container), then for each node made: mount it read-only and read the
 * token, and read the raw device (no mount needed: a device node that opens is the whole disk).
 */
export function diskEscapeScript(disk: Pick<LoopDisk, 'major' | 'minor' | 'nodeName'>, pause: string): string {
  const attempt = (node: string, at: string, key: string): string =>
    `e=$(mknod ${node} b ${disk.major} ${disk.minor} 2>&1); echo "@mc mknod-${key}=$? $e"; ` +
    `if [ -b ${node} ]; then e=$(mount -t ext4 -o ro ${node} ${at} 2>&1); echo "@mc mount-${key}=$? $e"; echo "@mc token-${key}=$(cat ${at}/token 2>/dev/null)"; ` +
    `r=$(head -c 4194304 ${node} 2>/dev/null | strings | grep -m1 -o 'disk-[a-z0-9]*'); e=$(head -c 1 ${node} 2>&1 >/dev/null); echo "@mc raw-${key}=$r $e"; fi`
  const [dev, tmp] = diskNodes(disk)
  return [
    attempt(dev, '/mnt', 'dev'),
    attempt(tmp, '/media', 'tmp'),
    pause, // the host looks for the disk in the container's mount table now
    `umount /mnt /media 2>/dev/null; rm -f ${dev} ${tmp}`,
  ].join('; ')
}

/** Where the disk script makes its device nodes. */
export function diskNodes(disk: Pick<LoopDisk, 'nodeName'>): [string, string] {
  return [`/dev/.${disk.nodeName}`, `/tmp/.${disk.nodeName}`]
}

/**
 * After the run: device nodes of the disk that an engine let the script make ON THE HOST (one that ran the
 * command in the host's mount namespace) are removed; a container's own are gone with its mount namespace.
 */
export function removeDiskNodesOnHost(disk: LoopDisk): string[] {
  const removed: string[] = []
  for (const node of diskNodes(disk)) {
    try {
      const st = fs.lstatSync(node)
      if (st.isBlockDevice()) {
        fs.rmSync(node)
        removed.push(node)
      }
    } catch {
      // not there: good
    }
  }
  return removed
}

/** Writes `h` (print the SysRq help to the kernel log: harmless) to /proc/sysrq-trigger: one line of a probe script. */
export function sysrqScript(): string {
  return 'if [ -e /proc/sysrq-trigger ]; then e=$( { echo h > /proc/sysrq-trigger; } 2>&1 ); echo "@mc sysrq=$? $e"; else echo "@mc sysrq=missing"; fi'
}
