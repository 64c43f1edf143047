// Step 05: pivot_root. chroot (step 02) only changes where one process's paths start: the host's
// tree is still in the container's mount namespace, above its root, and a root process climbs back
// to it (man 2 chroot). pivot_root makes the rootfs the ROOT MOUNT of the container's mount
// namespace; unmounting the old root then takes the host's tree out of that namespace altogether.
// What the given code uses (step 02's way, until TODO(05.2) replaces it). Your TODOs need more of lib/libc.ts.
import { chdir, chroot } from '../../lib/libc.ts'

/**
 * pivot_root wants the new root to be a mount point of its own, and the rootfs is just a folder of
 * the host's filesystem (from step 06 on it is already a mount: the container's overlay).
 */
export function makeMountPoint(rootfs: string): void {
  // TODO(05.1): Make `rootfs` a mount point of its own, showing the same files (and the mounts
  //   already under it). Why: pivot_root refuses a new root that is a plain folder (EBUSY). It stays
  //   private like every mount of this namespace (step 01), so nothing propagates to the host.
  //   Lesson: "2. A mount point of its own". See man 2 mount (bind mounts), man 2 pivot_root.
}

/** From here on, "/" is the rootfs for this process and everything it execs, and nothing else is reachable. */
export function pivotInto(rootfs: string): void {
  // TODO(05.2): Replace the two chroot lines below (step 02's: a root process walks out of them,
  //   see the lesson) with a real change of root: make `rootfs` the root MOUNT of the container's
  //   mount namespace with pivot_root. Mind what pivot_root works on: a mount point (TODO 05.1)
  //   and the paths you give it, relative to where you are; the lesson shows a form that needs no
  //   extra folder in the rootfs (until step 06 that folder is shared by every container: write
  //   nothing into it). Lesson: "3. pivot_root". See man 2 pivot_root.
  chroot(rootfs)
  chdir('/')
  // TODO(05.3): The host's old root is still in the container's mount namespace (stacked on top
  //   of "/": try `ls /..` inside). Take it out of the namespace altogether, although every host
  //   process still uses it, then leave the current directory at the new "/". Afterwards no path,
  //   not even /.. or the chroot trick, may reach a host file.
  //   Lesson: "4. Detach the old root". See man 2 umount (the flags), man 2 pivot_root (NOTES).
}
