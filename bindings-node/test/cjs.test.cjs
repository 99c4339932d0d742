const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Engine, builtinAlerts } = require('..')

test('CommonJS require works', () => {
  assert.ok(builtinAlerts().length >= 30)
  const r = new Engine().evaluate({ eventName: 'StopLogging', eventSource: 'cloudtrail.amazonaws.com', userIdentity: { type: 'IAMUser', userName: 'x' } })
  assert.equal(r[0].alertId, 'cis-4.5-cloudtrail-changes')
})
