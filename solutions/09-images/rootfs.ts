// Step 02: a root filesystem of the container's own. chroot() changes what "/" means for this
// process (step 05 replaces it with pivot_root, in pivot.ts); /proc and /dev, which the minirootfs
// ships empty, are mounted inside.
import fs from 'node:fs'
import path from 'node:path'
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, mount } from '../../lib/libc.ts'
import { makeMountPoint, pivotInto } from './pivot.ts'
import type { Volume } from '../../lib/cli.ts'
import { mountVolumes } from './volumes.ts'

/**
 * The device nodes a container needs, taken from the host's /dev (docker's default set without its terminal
 * devices: console, ptmx, pts). Only the names listed here: never the host's whole /dev, which holds its disks.
 */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const

/**
 * Container side, after the mount namespace exists (step 01) so nothing here reaches the host.
 * Order matters: /dev is filled from the host's device nodes, which are out of reach once inside.
 */
export function enterRootfs(rootfs: string, volumes: Volume[]): void {
  makeMountPoint(rootfs)
  populateDev(rootfs)
  mountVolumes(rootfs, volumes) // while the host's folders are still reachable
  pivotInto(rootfs)
  mountProc()
}

/**
 * Alpine's minirootfs has an empty /dev: no /dev/null, so even `dd if=/dev/zero` fails, and a
 * write to /dev/null creates a file in the rootfs. Runs on the host's paths, before the root changes.
 */
export function populateDev(rootfs: string): void {
  const dev = path.join(rootfs, 'dev')
  mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_NOEXEC, 'mode=755,size=64k')
  for (const name of DEVICES) {
    const target = path.join(dev, name)
    fs.writeFileSync(target, '') // a bind mount needs something to cover
    mount(`/dev/${name}`, target, null, MS_BIND)
  }
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

/**
 * `ps` and `top` read /proc. A proc filesystem shows the processes of the PID namespace of
 * whoever mounted it. Runs inside the new root.
 */
export function mountProc(): void {
  mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
}
