// Start-up speed (`npm run bench`): every container costs two Node start-ups, the engine and its init, and each
// would strip the types of every .ts file again. Node's compile cache keeps the stripped and compiled code on disk.
//
// JavaScript on purpose, like the engine's entry (main.js) that imports it: Node loads its TypeScript stripper
// (a WebAssembly module, tens of ms) for the first .ts file it meets. If that file is the entry, it is stripped
// before any code could turn the cache on, at every start. A .js entry turns the cache on first; then every .ts
// file, init's included (it inherits NODE_COMPILE_CACHE), comes from the cache already stripped.
// One home for the cache's place: bin/launch.mjs uses it too.
import module from 'node:module'
import { fileURLToPath } from 'node:url'

/**
 * The cache lives with the project's packages, like other tools' caches, not in /tmp: root runs the code it finds
 * there. (A URL, not import.meta.dirname: bin/launch.mjs imports this on any Node >= 18.)
 */
export const COMPILE_CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/node-compile-cache', import.meta.url))

/**
 * Turns the cache on for the modules imported from now on, and sets it in the environment so that every child
 * (init) has it from its first file. A caller's NODE_COMPILE_CACHE wins.
 */
export function startCompileCache() {
  process.env.NODE_COMPILE_CACHE ||= COMPILE_CACHE_DIR
  module.enableCompileCache(process.env.NODE_COMPILE_CACHE)
}

/** Writes the cache now: init never exits normally (it becomes the command), so it would never save it. */
export function saveCompileCache() {
  module.flushCompileCache()
}
