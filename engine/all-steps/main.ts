// minicontainer: `node main.ts run [--hostname NAME] [--memory SIZE] [--cpus N] [--] CMD [ARG...]`
// The engine is in container.ts; each kernel feature has a file of its own.
import { main } from './container.ts'

await main(process.argv.slice(2))
