// ESM entry: re-exports the native binding loaded by index.js.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const binding = require('./index.js')

export const { Engine, Storage, ChannelNotifier, builtinAlerts } = binding
export default binding
