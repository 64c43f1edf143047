// One inhabitant of a test test network (checker/test-network.ts), started as `unshare --net node test-network-agent.ts`:
// it holds a fresh network namespace for as long as it lives, and serves and opens TCP connections inside it
// when told to. It reads one JSON command per line on stdin and answers one JSON line per command on stdout.
// When stdin ends (the checker finished, or died, even of SIGKILL) it exits, and its namespace goes with it.
//
//   {"id":1,"op":"listen","host":"198.51.100.10","port":7000}  -> {"id":1,"ok":true}
//       every connection gets "peer=<the client address as this server sees it>\n", then is closed
//   {"id":2,"op":"peers","port":7000}                          -> {"id":2,"ok":true,"peers":["203.0.113.2"]}
//   {"id":3,"op":"connect","host":"127.0.0.1","port":8080,"send":"x\n","timeoutMs":3000}
//       -> {"id":3,"ok":true,"data":"what the server sent before closing"} or {"id":3,"ok":false,"error":"ECONNREFUSED"}
import net from 'node:net'
import readline from 'node:readline'

interface Command {
  id: number
  op: 'listen' | 'peers' | 'connect'
  host?: string
  port?: number
  send?: string
  timeoutMs?: number
}

const peers = new Map<number, string[]>()
const servers: net.Server[] = []

function answer(reply: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(reply) + '\n')
}

async function handle(c: Command): Promise<Record<string, unknown>> {
  if (c.op === 'listen') {
    const server = net.createServer((socket) => {
      const peer = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '?'
      peers.set(c.port!, [...(peers.get(c.port!) ?? []), peer])
      socket.on('error', () => {})
      socket.end(`peer=${peer}\n`)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(c.port, c.host, () => resolve())
    })
    servers.push(server)
    return { ok: true }
  }
  if (c.op === 'peers') return { ok: true, peers: peers.get(c.port!) ?? [] }
  if (c.op === 'connect') {
    return await new Promise((resolve) => {
      let data = ''
      const socket = net.connect({ host: c.host, port: c.port! })
      const timer = setTimeout(() => {
        socket.destroy()
        resolve({ ok: false, error: 'ETIMEDOUT', data })
      }, c.timeoutMs ?? 3000)
      socket.on('connect', () => socket.write(c.send ?? ''))
      socket.on('data', (chunk) => void (data += chunk.toString('utf8')))
      socket.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        resolve({ ok: false, error: error.code ?? error.message, data })
      })
      socket.on('end', () => {
        clearTimeout(timer)
        socket.end()
        resolve({ ok: true, data })
      })
    })
  }
  return { ok: false, error: `unknown op ${String((c as { op: unknown }).op)}` }
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let command: Command
  try {
    command = JSON.parse(line) as Command
  } catch {
    return answer({ ok: false, error: `not JSON: ${line}` })
  }
  handle(command).then(
    (reply) => answer({ id: command.id, ...reply }),
    (error: NodeJS.ErrnoException) => answer({ id: command.id, ok: false, error: error.code ?? error.message }),
  )
})
lines.on('close', () => {
  for (const server of servers) server.close()
  process.exit(0)
})
answer({ ready: true, pid: process.pid })
