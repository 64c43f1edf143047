// The contract between the engine (host side) and the container's init: how init is started, and what it is
// told. init is this same engine re-run with a hidden sub-command; its configuration arrives as JSON on fd 3.
import type { Volume } from '../cli.ts'

/** The hidden sub-command with which the engine re-runs itself as the container's init. */
export const INIT_SUBCOMMAND = '__init'
/** init receives its configuration on this file descriptor (a pipe), then waits for EOF. */
export const CONFIG_FD = 3
/**
 * A socket both ways between the engine and init, for a pause in the middle of init's set-up: init says
 * "paused" once its namespaces exist and waits until the host side has done its part with them (runc's
 * parent and child synchronise the same way before its hooks run). Used from step 08 on.
 */
export const SYNC_FD = 4
export const PAUSED = 'paused\n'
export const RESUME = 'resume\n'

/** What init needs to know, sent as JSON over fd 3. */
export interface InitConfig {
  command: string[]
  hostname: string
  /** undefined before step 02: the host's own filesystem. */
  rootfs?: string
  /** undefined before step 02: the engine's own environment. */
  env?: Record<string, string>
  /** From step 06: the container's writable layer over the read-only image, mounted by init as its root. */
  layer?: Layer
  /** From step 06: host folders bind-mounted into the container (--volume). */
  volumes?: Volume[]
  /** From step 09, for an image: the folder the command starts in (the image's WorkingDir), made if missing. */
  workingDir?: string
  /** From step 09, for an image: its User ("", "name", "uid", "name:group", "uid:gid"), resolved in its /etc/passwd. */
  user?: string
}

/**
 * A container's overlay (step 06): the image below (read-only, shared by every container), a layer of its own
 * on top. All four are host paths; upper and work must be on the same filesystem.
 */
export interface Layer {
  /** The read-only image: the overlay's lowerdir (step 06). From step 09, an image's bottom layer. */
  image: string
  /**
   * From step 09: every read-only layer, bottom first as an image's manifest lists them (an image's layer folders in
   * the store; for --rootfs, just the rootfs).
   */
  lowerDirs?: string[]
  /** Where the container's writes, whiteouts and copied-up files land: upperdir. */
  upper: string
  /** The overlay's scratch folder (workdir): empty, on the same filesystem as upper. */
  work: string
  /** Where init mounts the overlay (in its own mount namespace): the container's root. */
  merged: string
}
