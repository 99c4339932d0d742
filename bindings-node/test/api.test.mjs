import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Engine, Storage, builtinAlerts } from '../index.mjs'
import { event, samples, corpus } from './helpers.mjs'

const BURST = { id: 'burst', name: 'Denied burst', risk: 'high', response: 'unauthorized', threshold: { count: 3, window_seconds: 60, group_by: ['user'] } }

test('evaluate takes an object, a JSON string or a Buffer', () => {
  const engine = new Engine()
  for (const form of [event(), JSON.stringify(event()), Buffer.from(JSON.stringify(event()))]) {
    const results = engine.evaluate(form)
    assert.deepEqual(results.map(r => r.alertId), ['cis-4.5-cloudtrail-changes'])
  }
  const [r] = engine.evaluate(event())
  assert.equal(r.risk, 'high')
  assert.equal(r.user, 'mallory')
  assert.equal(r.eventId, 'e1')
  assert.equal(r.eventTime, '2024-05-01T10:00:00Z')
  assert.equal(r.count ?? null, null)
  assert.equal(JSON.parse(JSON.stringify(r)).alertId, 'cis-4.5-cloudtrail-changes')
  assert.deepEqual(r.raw, event())
})

test('evaluateMany: arrays and JSON Lines buffers, thresholds across calls', async () => {
  const engine = new Engine({ alerts: [BURST], builtin: false })
  const denied = [0, 1, 2].map(i => event(`d${i}`, { eventName: 'ListBuckets', eventSource: 's3.amazonaws.com', errorCode: 'AccessDenied', eventTime: `2024-05-01T10:00:0${i}Z` }))
  assert.deepEqual(await engine.evaluateMany(denied.slice(0, 2).map(e => JSON.stringify(e))), [])
  const [r] = await engine.evaluateMany(Buffer.from(JSON.stringify(denied[2]) + '\n'))
  assert.equal(r.count, 3)
  assert.equal(r.windowStart, '2024-05-01T10:00:00Z')
})

test('real Stratus detonations fire the catalog', async () => {
  const records = JSON.parse(fs.readFileSync(path.join(corpus, 'stratus-red-team', 'aws.persistence.iam-create-admin-user.json'), 'utf8')).Records
  const ids = new Set((await new Engine().evaluateMany(records)).map(r => r.alertId))
  for (const id of ['admin-policy-attached', 'iam-user-or-credentials-created', 'cis-4.4-iam-policy-changes']) assert.ok(ids.has(id), id)
})

test('errors are Error objects with stable codes and precise messages', async () => {
  assert.throws(() => new Engine({ alerts: [{ id: 'office', name: 'Office', risk: 'low', source_ips: { include: ['10.0.0.300/8'] } }] }),
    e => e instanceof Error && e.code === 'invalid_alert' && /office/.test(e.message) && /source_ips\.include\[0\]/.test(e.message))
  assert.throws(() => new Engine().evaluate('{"eventName": 5}'), e => e.code === 'invalid_event' && /eventName/.test(e.message))
  assert.throws(() => new Engine().evaluate(42), e => e.code === 'invalid_event')
  await assert.rejects(new Engine().evaluateMany(Buffer.from(JSON.stringify(event()) + '\nnot json\n')),
    e => e instanceof Error && e.code === 'invalid_event' && /line 2/.test(e.message))
  await assert.rejects(new Engine().scan(['/no/such/dir']), e => e.code === 'io')
  await assert.rejects(new Engine().scanDetailed(['/no/such/dir']), e => e.code === 'io')
  assert.throws(() => new Engine({ enable: ['no-such-alert'] }), e => e.code === 'invalid_alert')
  await assert.rejects(Storage.sqlite('/proc/cannot-live-here.db'), e => e.code === 'storage')
})

test('scan resolves with results, problems and a summary', async () => {
  const found = await new Engine().scan([samples])
  assert.ok(Array.isArray(found) && found.length >= 20)
  assert.ok(found.some(r => r.alertId === 'root-console-login'))
  const out = await new Engine().scanDetailed([samples])
  assert.ok(out.results.length >= 20)
  assert.ok(out.results.some(r => r.alertId === 'root-console-login'))
  assert.equal(out.problems.length, 1)
  assert.match(out.problems[0], /siem-export\.jsonl: line 13/)
  assert.equal(out.summary.bad_records, 1)
})

test('alerts, ignores, builtinAlerts', () => {
  assert.ok(builtinAlerts().length >= 30)
  const engine = new Engine()
  engine.addIgnore({ id: 'm', user: 'mall*' }, 'cis-4.5-cloudtrail-changes')
  assert.deepEqual(engine.evaluate(event()), [])
  assert.equal(engine.stats().ignored, 1)
  assert.equal(engine.removeIgnore('m', 'cis-4.5-cloudtrail-changes'), true)
  assert.equal(engine.evaluate(event('e2')).length, 1)
  engine.setEnabled('cis-4.5-cloudtrail-changes', false)
  assert.equal(engine.evaluate(event('e3')).length, 0)
  assert.ok(engine.alerts().some(a => a.id === 'cis-4.5-cloudtrail-changes' && a.enabled === false))
})

test('SQLite storage: save once, query, ignore from a result', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const store = await Storage.sqlite(path.join(dir, 'a.db'))
  const engine = new Engine()
  const results = await engine.scan([samples])
  assert.equal(await store.save(results, '2026-11-26T00:00:00Z'), results.length)
  assert.equal(await store.save(results, '2026-11-26T00:00:01Z'), 0)
  const page = await store.query({ risks: ['critical'], sort: 'event_time', desc: true, limit: 2 })
  assert.equal(page.results.length, 2)
  assert.ok(page.results.every(r => r.result.risk === 'critical'))
  assert.ok(page.nextCursor)
  const next = await store.query({ risks: ['critical'], sort: 'event_time', desc: true, limit: 2, cursor: page.nextCursor })
  assert.ok(!next.results.some(r => page.results.some(p => p.result.id === r.result.id)))
  const one = await store.get(results[0].id)
  assert.equal(one.result.raw.eventID, results[0].eventId)
  await assert.rejects(store.get('nope'), e => e.code === 'not_found')
  const root = results.find(r => r.alertId === 'root-console-login')
  const ig = await store.ignoreFromResult(root.id, ['user', 'event'], 'drill', 'quarterly drill')
  assert.equal(ig.user, 'root')
  const again = new Engine({ storage: store })
  assert.ok(!(await again.scan([samples])).some(r => r.alertId === 'root-console-login'))
  assert.equal((await store.ignores('root-console-login'))[0].ignore.id, 'drill')
  assert.throws(() => store.query({ sort: 'nonsense' }), e => e.code === 'invalid_request')
})

test('same results as the Rust CLI', async () => {
  const { execFileSync } = await import('node:child_process')
  const { repo } = await import('./helpers.mjs')
  const target = path.join(corpus, 'stratus-red-team')
  const out = execFileSync('cargo', ['run', '-q', '-p', 'trailalerts-cli', '--', 'scan', '-q', '--output', 'jsonl', target], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 28 })
  const rust = out.trim().split('\n').map(l => JSON.parse(l)).map(r => [r.alert_id, r.event_id, r.count ?? null])
  const node = (await new Engine().scan([target])).map(r => [r.alertId, r.eventId, r.count ?? null])
  assert.ok(rust.length > 50)
  assert.deepEqual(node, rust)
})
