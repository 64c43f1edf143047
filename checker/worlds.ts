// The "hosts" a mount check runs the engine in. A missing or half-done MS_PRIVATE only shows where the host's
// mounts are shared, and this machine's may not be: so the engine runs inside a throw-away mount namespace that
// plays such a host. It is made private first (nothing done in it can reach the real host, whatever the real
// host's propagation is), then shared again in peer groups of its own:
//   'shared-root'   every mount shared, as systemd makes them (the rootfs lives on the root mount);
//   'shared-rootfs' the same, and the rootfs (and /tmp) on a shared mount of its own, as on a machine with a
//                   separate /var partition: a private remount of "/" without MS_REC leaves that mount shared,
//                   and everything the container mounts under its rootfs propagates to the host and stays there.
import { currentRootfs } from '../lib/rootfs/location.ts'
import type { MountEntry } from './proc.ts'

export type MountWorld = 'shared-root' | 'shared-rootfs'

/** The shell commands that build the world, run as root inside the new mount namespace before the engine. */
function setup(world: MountWorld, rootfs: string | undefined): string {
  const steps = ['mount --make-rshared /']
  if (world === 'shared-rootfs') {
    // A bind mount of a folder onto itself is a mount of its own; private then shared: a peer group of its own.
    for (const dir of ['/tmp', rootfs].filter((d): d is string => Boolean(d))) {
      const q = `'${dir.replace(/'/g, `'\\''`)}'`
      steps.push(`mount --bind ${q} ${q}`, `mount --make-private ${q}`, `mount --make-shared ${q}`)
    }
  }
  return steps.join(' && ')
}

/** The command line that runs `engineArgv` in `world`: util-linux unshare, then the world's set-up, then the engine. */
export function inWorld(world: MountWorld, engineArgv: string[], rootfs = currentRootfs()?.dir): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--fork', '--', '/bin/sh', '-c', `${setup(world, rootfs)} && exec "$@"`, 'world', ...engineArgv]
}

/**
 * The world's own mounts in its mount table (the folders it bind-mounted onto themselves), so that a check does
 * not take them for the engine's. A mount the container stacks on the same folder has one of them as its parent.
 */
export function isWorldMount(m: MountEntry, table: MountEntry[], rootfs = currentRootfs()?.dir): boolean {
  if (m.mountPoint !== rootfs && m.mountPoint !== '/tmp') return false
  return table.find((p) => p.id === m.parent)?.mountPoint !== m.mountPoint
}
