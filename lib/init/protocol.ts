// The contract between the engine (host side) and the container's init: how init is started, and what it is
// told. init is this same engine re-run with a hidden sub-command; its configuration arrives as JSON on fd 3.

/** The hidden sub-command with which the engine re-runs itself as the container's init. */
export const INIT_SUBCOMMAND = '__init'
/** init receives its configuration on this file descriptor (a pipe), then waits for EOF. */
export const CONFIG_FD = 3

/** What init needs to know, sent as JSON over fd 3. */
export interface InitConfig {
  command: string[]
  hostname: string
  /** undefined before step 02: the host's own filesystem. */
  rootfs?: string
  /** undefined before step 02: the engine's own environment. */
  env?: Record<string, string>
}
