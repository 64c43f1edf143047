// `sh bin/node test/vm/run-in-vm.ts SCRIPT [ARG...]`: runs `npm run SCRIPT -- ARG...` inside the workshop VM
// through the same host -> VM path the checker uses, and exits with its status (test/vm/e2e.sh uses it).
import { runInVm } from '../../lib/vm/remote.ts'

const [script, ...args] = process.argv.slice(2)
if (!script) {
  console.error('usage: run-in-vm.ts SCRIPT [ARG...]')
  process.exit(2)
}
process.exit(await runInVm(script, args))
