// Run INSIDE a test network's host namespace by test-network.test.ts: proves that the real-host guard notices a
// bridge, an nft table and ip_forward switched on, says so loudly, and repairs them.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { assertHostNetworkUnchanged, snapshotHostNetwork } from '../../checker/host-network.ts'

const before = snapshotHostNetwork()
spawnSync('ip', ['link', 'add', 'mc0', 'type', 'bridge'])
spawnSync('nft', ['add', 'table', 'ip', 'minicontainer'])
fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1')
try {
  assertHostNetworkUnchanged(before, 'the guard probe')
  console.log('NOT DETECTED')
} catch (error) {
  console.log((error as Error).message)
}
console.log(`after: ${JSON.stringify(snapshotHostNetwork().sections.links)} ip_forward=${fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()} nft=${JSON.stringify(spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout)}`)
