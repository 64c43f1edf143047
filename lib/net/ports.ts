// Which ports programs of this network namespace listen on: /proc/net/{tcp,tcp6,udp,udp6}, the kernel's own
// socket tables (what `ss -ltn` reads). A published port that a host program already listens on would be
// taken from it silently by the DNAT rule: docker's userland proxy reserves the port by binding it; the
// engine refuses instead.

export function portInUse(port: number, protocol: 'tcp' | 'udp', read: (file: string) => string | undefined): boolean {
  const LISTEN = '0A'
  for (const file of [`/proc/net/${protocol}`, `/proc/net/${protocol}6`]) {
    for (const line of (read(file) ?? '').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const local = fields[1]
      if (!local) continue
      const localPort = parseInt(local.slice(local.lastIndexOf(':') + 1), 16)
      if (localPort === port && (protocol === 'udp' || fields[3] === LISTEN)) return true
    }
  }
  return false
}
