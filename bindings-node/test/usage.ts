// Type-checked (tsc --noEmit) against the generated index.d.ts; not run.
import { Engine, Storage, builtinAlerts, type AlertResult, type AlertDefinition } from '../index.js'

const custom: AlertDefinition = { id: 'root', name: 'Root used', risk: 'critical', users: ['root'] }
const engine = new Engine({ alerts: [custom, '{"id":"x","name":"X","risk":"low"}'], builtin: false })
const one: AlertResult[] = engine.evaluate({ eventName: 'ConsoleLogin' })
const risk: 'low' | 'medium' | 'high' | 'critical' = one[0].risk
const count: number | undefined = one[0].count ?? undefined

async function main (): Promise<void> {
  const many: AlertResult[] = await engine.evaluateMany(Buffer.from('{"eventName":"X"}\n'))
  const found: AlertResult[] = await engine.scan(['logs/'])
  const problems: string[] = (await engine.scanDetailed(['logs/'])).problems
  const store = await Storage.sqlite('alerts.db')
  const saved: number = await store.save(many, new Date().toISOString())
  const page = await store.query({ risks: ['high'], limit: 10 })
  const next: string | undefined | null = page.nextCursor
  const ids: string[] = page.results.map(r => r.result.alertId)
  const all: AlertDefinition[] = builtinAlerts()
  void [risk, count, found, problems, saved, next, ids, all]
}
void main
