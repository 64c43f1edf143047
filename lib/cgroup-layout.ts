// The cgroup filesystems mounted on the host under /sys/fs/cgroup, described so that a container can mount
// the same ones (read-only, in its cgroup namespace) under its own /sys/fs/cgroup:
//
//   cgroup v2 (the workshop VM)            cgroup v1 (one hierarchy per controller, often a hybrid)
//   /sys/fs/cgroup        cgroup2          /sys/fs/cgroup                tmpfs
//                                          /sys/fs/cgroup/memory         cgroup -o memory
//                                          /sys/fs/cgroup/cpu,cpuacct    cgroup -o cpu,cpuacct
//                                          /sys/fs/cgroup/cpu -> cpu,cpuacct   (a symlink)
//                                          /sys/fs/cgroup/systemd        cgroup -o name=systemd
//                                          /sys/fs/cgroup/unified        cgroup2
//
// Read it while the host's mounts are still visible (before chroot or pivot_root).
import fs from 'node:fs'
import path from 'node:path'

export const CGROUP_MOUNT_POINT = '/sys/fs/cgroup'

export interface CgroupHierarchy {
  /** Relative to /sys/fs/cgroup: '' when the hierarchy is mounted on /sys/fs/cgroup itself (v2). */
  dir: string
  fsType: 'cgroup' | 'cgroup2'
  /** The mount's data: the v1 controllers or name ('memory', 'cpu,cpuacct', 'name=systemd'); '' for cgroup2. */
  options: string
}

export interface CgroupLayout {
  hierarchies: CgroupHierarchy[]
  /** Symlinks in /sys/fs/cgroup (v1): name -> target, e.g. cpu -> cpu,cpuacct. */
  links: { name: string; target: string }[]
}

/** v1 super options that name the hierarchy; the rest (rw, xattr, release_agent=...) is not repeated. */
function identifyingOptions(superOptions: string): string {
  return superOptions
    .split(',')
    .filter((o) => !['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'xattr', 'clone_children', 'noprefix', 'cpuset_v2_mode'].includes(o) && !o.startsWith('release_agent='))
    .join(',')
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup, from a mountinfo text (default: this process's). */
export function cgroupLayout(mountinfo: string = fs.readFileSync('/proc/self/mountinfo', 'utf8')): CgroupLayout {
  const hierarchies: CgroupHierarchy[] = []
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const mountPoint = left.split(' ')[4]!.replace(/\\040/g, ' ')
    const [fsType, , superOptions = ''] = right.split(' ')
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue
    if (mountPoint !== CGROUP_MOUNT_POINT && path.dirname(mountPoint) !== CGROUP_MOUNT_POINT) continue
    const dir = path.relative(CGROUP_MOUNT_POINT, mountPoint)
    if (hierarchies.some((h) => h.dir === dir)) continue // mounted twice: the same hierarchy
    hierarchies.push({ dir, fsType, options: fsType === 'cgroup2' ? '' : identifyingOptions(superOptions) })
  }
  const links: CgroupLayout['links'] = []
  if (!hierarchies.some((h) => h.dir === '')) {
    try {
      for (const entry of fs.readdirSync(CGROUP_MOUNT_POINT, { withFileTypes: true })) {
        if (entry.isSymbolicLink()) links.push({ name: entry.name, target: fs.readlinkSync(path.join(CGROUP_MOUNT_POINT, entry.name)) })
      }
    } catch {
      // no /sys/fs/cgroup: no links
    }
  }
  return { hierarchies, links }
}
