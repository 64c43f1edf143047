// Step 05: pivot_root. chroot (step 02) only changes where one process's paths start: the host's
// tree is still in the container's mount namespace, above its root, and a root process climbs back
// to it (man 2 chroot). pivot_root makes the rootfs the ROOT MOUNT of the container's mount
// namespace; unmounting the old root then takes the host's tree out of that namespace altogether.
import { MNT_DETACH, MS_BIND, MS_REC, chdir, mount, pivotRoot, umount2 } from '../../lib/libc.ts'

/**
 * pivot_root wants the new root to be a mount point of its own, and the rootfs is just a folder of
 * the host's filesystem (from step 06 on it is already a mount: the container's overlay).
 */
export function makeMountPoint(rootfs: string): void {
  mount(rootfs, rootfs, null, MS_BIND | MS_REC)
}

/** From here on, "/" is the rootfs for this process and everything it execs, and nothing else is reachable. */
export function pivotInto(rootfs: string): void {
  chdir(rootfs)
  pivotRoot('.', '.')
  umount2('.', MNT_DETACH)
  chdir('/')
}
