import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { Engine } from '../index.mjs'
import { event, repo, here } from './helpers.mjs'

test('many evaluateMany calls in flight give the same results as one by one', async () => {
  const engine = new Engine()
  const batches = Array.from({ length: 16 }, (_, b) => Array.from({ length: 500 }, (_, i) => event(`b${b}-${i}`)))
  const all = await Promise.all(batches.map(b => engine.evaluateMany(b)))
  assert.equal(all.flat().length, 16 * 500)
  for (const [b, results] of all.entries()) assert.deepEqual(results.map(r => r.eventId), batches[b].map(e => e.eventID))
})

test('the event loop stays responsive during a long scan', async () => {
  // ~125 MB of logs: removed afterwards, pass or fail.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-scan-'))
  try {
    const line = fs.readFileSync(path.join(repo, 'tests/data/corpus/awsdocs_examples.jsonl'))
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `f${i}.jsonl`), Buffer.concat(Array(200).fill(line)))
    let maxLag = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      maxLag = Math.max(maxLag, now - last - 5)
      last = now
    }, 5)
    const t0 = performance.now()
    const out = await new Engine().scanDetailed([dir])
    const took = performance.now() - t0
    clearInterval(timer)
    assert.ok(out.summary.events > 50000, `scanned ${out.summary.events}`)
    assert.ok(took > 50, `scan took ${took} ms: too short to measure lag`)
    assert.ok(maxLag < 50, `timer lag ${maxLag.toFixed(1)} ms during a ${took.toFixed(0)} ms scan`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a TypeScript usage file type-checks against index.d.ts', () => {
  execFileSync(process.execPath, [path.join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', path.join(here, 'tsconfig.json')], { stdio: 'pipe' })
})

function blocks (file, langs) {
  const text = fs.readFileSync(file, 'utf8')
  const out = []
  for (const m of text.matchAll(/```(\w+)\n([\s\S]*?)```/g)) if (langs.includes(m[1])) out.push(m[2])
  return out
}

test('README and guide snippets run', async () => {
  const ts = (await import('typescript')).default
  const snippets = [...blocks(path.join(repo, 'README.md'), ['ts', 'typescript']), ...blocks(path.join(repo, 'docs/node.md'), ['ts', 'typescript', 'js', 'javascript'])]
  assert.ok(snippets.length > 0)
  const dir = fs.mkdtempSync(path.join(here, '.snippets-'))
  try {
    fs.symlinkSync(path.join(repo, 'core/cli/samples'), path.join(dir, 'logs'))
    for (const [i, code] of snippets.entries()) {
      const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
      const file = path.join(dir, `snippet-${i}.mjs`)
      fs.writeFileSync(file, js)
      execFileSync(process.execPath, [file], { cwd: dir, stdio: 'pipe' })
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('npm pack gives a package that installs and works in a fresh project', () => {
  const pkgDir = path.join(here, '..')
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-pack-'))
  try {
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: pkgDir, encoding: 'utf8' }).trim().split('\n').pop()
    const app = path.join(out, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }))
    execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund', path.join(out, tarball)], { cwd: app })
    fs.writeFileSync(path.join(app, 'main.js'), "import { Engine } from 'trailalerts'\nconst r = new Engine().evaluate({ eventName: 'StopLogging', eventSource: 'cloudtrail.amazonaws.com' })\nconsole.log(r[0].alertId)\n")
    fs.writeFileSync(path.join(app, 'main.cjs'), "const { Engine } = require('trailalerts')\nconsole.log(new Engine().evaluate({ eventName: 'StopLogging', eventSource: 'cloudtrail.amazonaws.com' })[0].alertId)\n")
    assert.equal(execFileSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' }).trim(), 'cis-4.5-cloudtrail-changes')
    assert.equal(execFileSync(process.execPath, ['main.cjs'], { cwd: app, encoding: 'utf8' }).trim(), 'cis-4.5-cloudtrail-changes')
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
  }
})
