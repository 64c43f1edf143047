// The contract between the engine (host side) and the container's init: how init is started, and what it is
// told. init is this same engine re-run with a hidden sub-command; its configuration arrives as JSON on fd 3.

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
}
