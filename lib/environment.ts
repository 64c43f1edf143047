// The environment the command gets. From step 02 on, the container's own: only what a shell needs, nothing of
// the host's (an SSH agent socket, tokens, SUDO_* would otherwise reach every container).

/** Before step 02 the command runs on the host's files, with the engine's own environment. */
export function engineEnvironment(): Record<string, string> {
  const { NODE_COMPILE_CACHE: _engineOnly, ...env } = process.env
  return env as Record<string, string>
}

/** The environment of a container: only what a shell needs, nothing leaked from the host. */
export function containerEnvironment(hostname: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    TERM: process.env.TERM || 'xterm',
    HOSTNAME: hostname,
  }
}
