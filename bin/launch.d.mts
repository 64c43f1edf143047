// Types of what bin/launch.mjs (plain JavaScript) exports to the TypeScript code.

/** Does `version` ("24.3.0" or "v24.3.0") satisfy the npm range `range`, as written in package.json engines.node? */
export function satisfies(version: string, range: string): boolean
