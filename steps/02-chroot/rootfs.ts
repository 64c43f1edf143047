// Step 02: a root filesystem of the container's own. chroot() changes what "/" means for this
// process (step 05 replaces it with pivot_root, in pivot.ts); /proc and /dev, which the minirootfs
// ships empty, are mounted inside.
import fs from 'node:fs'
import path from 'node:path'
// What the given code uses. Your TODOs need more of lib/libc.ts: import it here.
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, mount } from '../../lib/libc.ts'

/**
 * The device nodes a container needs, taken from the host's /dev (docker's default set without its terminal
 * devices: console, ptmx, pts). Only the names listed here: never the host's whole /dev, which holds its disks.
 */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const

/**
 * Container side, after the mount namespace exists (step 01) so nothing here reaches the host.
 * Order matters: /dev is filled from the host's device nodes, which are out of reach once inside.
 */
export function enterRootfs(rootfs: string): void {
  populateDev(rootfs)
  changeRoot(rootfs)
  mountProc()
}

/**
 * Alpine's minirootfs has an empty /dev: no /dev/null, so even `dd if=/dev/zero` fails, and a
 * write to /dev/null creates a file in the rootfs. Runs on the host's paths, before the root changes.
 */
export function populateDev(rootfs: string): void {
  const dev = path.join(rootfs, 'dev')
  // TODO(02.1): Give the container a /dev of its own that holds the DEVICES and nothing else of the
  //   host's: a small filesystem in memory on the rootfs's `dev` folder (so nothing is ever written
  //   into the rootfs, and setuid bits and programs on it are ignored), and in it each device of
  //   DEVICES, the host's own node made visible there. You decide the order: what must exist before
  //   what? Why: programs need /dev/null and friends; the host's whole /dev would hand over its disks.
  //   Lesson: "2. /dev". See man 2 mount ("Creating a bind mount") and man 5 tmpfs.
  addDevLinks(dev)
}

/**
 * The links a shell expects (`echo hi > /dev/stderr`), pointing into the container's /proc, and
 * a /dev/shm for POSIX shared memory. Only on the tmpfs: never write into the rootfs itself.
 */
function addDevLinks(dev: string): void {
  const TMPFS_MAGIC = 0x01021994
  if (fs.statfsSync(dev).type !== TMPFS_MAGIC) return
  fs.symlinkSync('/proc/self/fd', path.join(dev, 'fd'))
  for (const [fd, name] of ['stdin', 'stdout', 'stderr'].entries()) fs.symlinkSync(`/proc/self/fd/${fd}`, path.join(dev, name))
  fs.mkdirSync(path.join(dev, 'shm'), { mode: 0o1777 })
  mount('shm', path.join(dev, 'shm'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=64m')
}

/** From here on, "/" is the rootfs for this process and everything it execs, and nothing else is in reach by a path. */
export function changeRoot(rootfs: string): void {
  // TODO(02.2): Make `rootfs` the root directory of this process (and of the command it becomes),
  //   and leave it no way back into the host's tree through a relative path. Why: changing the
  //   root changes what "/" means, not where the process stands; `ls ..` starts where it stands.
  //   Lesson: "3. chroot". See man 2 chroot (its NOTES) and man 2 chdir.
}

/**
 * `ps` and `top` read /proc. A proc filesystem shows the processes of the PID namespace of
 * whoever mounted it. Runs inside the new root.
 */
export function mountProc(): void {
  // TODO(02.3): Give the container a /proc that shows its own processes only, numbered as it sees
  //   them, with nothing on it that runs, opens a device or gains privileges. Why: ps, top, pidof and
  //   /dev/stdout read /proc; the host's would show (and expose) every process of the machine.
  //   Lesson: "4. /proc". See man 5 proc and man 2 mount.
}
