import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { Engine, ChannelNotifier } from '../index.mjs'
import { event } from './helpers.mjs'

function listen (handler) {
  return new Promise(resolve => {
    const server = http.createServer(handler)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

test('ChannelNotifier posts to a real local webhook without blocking the event loop', async () => {
  const received = []
  const server = await listen((req, res) => {
    let body = ''
    req.on('data', c => { body += c })
    req.on('end', () => {
      received.push({ path: req.url, body: JSON.parse(body) })
      const status = req.url === '/bad' ? 400 : 200
      setTimeout(() => { res.writeHead(status); res.end('ok') }, req.url === '/slow' ? 300 : 0)
    })
  })
  const port = server.address().port
  try {
    process.env.TA_NODE_TEST_SLACK = `http://127.0.0.1:${port}/slow`
    const slack = new ChannelNotifier({ type: 'slack', webhook_url: 'env:TA_NODE_TEST_SLACK' })
    assert.equal(slack.channel, 'slack')
    const [result] = new Engine().evaluate(event())
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 10)
    await slack.send(result)
    clearInterval(timer)
    assert.ok(ticks >= 10, `event loop kept running while sending (${ticks} ticks)`)
    assert.equal(received[0].path, '/slow')
    assert.match(received[0].body.text, /CloudTrail/)

    const bad = new ChannelNotifier({ type: 'pagerduty', routing_key: 'SECRETKEY1234567890', url: `http://127.0.0.1:${port}/bad` })
    assert.ok(!bad.toString().includes('SECRETKEY1234567890'))
    await assert.rejects(bad.send(result), e => e.code === 'notification' && e.retryable === false && /HTTP 400/.test(e.message))

    const closed = net.createServer()
    await new Promise(resolve => closed.listen(0, '127.0.0.1', resolve))
    const free = closed.address().port
    await new Promise(resolve => closed.close(resolve))
    const down = new ChannelNotifier({ type: 'syslog', address: `tcp://127.0.0.1:${free}` })
    await assert.rejects(down.send(result), e => e.code === 'notification' && e.retryable === true)

    assert.throws(() => new ChannelNotifier({ type: 'slack', webhook: 'x' }), e => e.code === 'invalid_alert' && /webhook/.test(e.message))
  } finally {
    server.close()
  }
})
