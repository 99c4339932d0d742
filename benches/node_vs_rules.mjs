// Node binding vs the same CIS rules as plain JavaScript functions over JSON.parse.
// Usage: node benches/node_vs_rules.mjs EVENTS.jsonl   (make bench-node generates the corpus)
import fs from 'node:fs'
import { Engine, builtinAlerts } from '../bindings-node/index.mjs'

const set = (...a) => new Set(a)
const UPDATE_TRAIL = set('CreateTrail', 'UpdateTrail', 'DeleteTrail', 'StartLogging', 'StopLogging')
const IAM = set('DeleteGroupPolicy', 'DeleteRolePolicy', 'DeleteUserPolicy', 'PutGroupPolicy', 'PutRolePolicy', 'PutUserPolicy', 'CreatePolicy', 'DeletePolicy',
  'CreatePolicyVersion', 'DeletePolicyVersion', 'AttachRolePolicy', 'DetachRolePolicy', 'AttachUserPolicy', 'DetachUserPolicy', 'AttachGroupPolicy', 'DetachGroupPolicy')
const S3 = set('PutBucketAcl', 'PutBucketPolicy', 'PutBucketCors', 'PutBucketLifecycle', 'PutBucketReplication', 'DeleteBucketPolicy', 'DeleteBucketCors', 'DeleteBucketLifecycle', 'DeleteBucketReplication')
const CONFIG = set('StopConfigurationRecorder', 'DeleteDeliveryChannel', 'PutDeliveryChannel', 'PutConfigurationRecorder')
const SG = set('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup')
const NACL = set('CreateNetworkAcl', 'CreateNetworkAclEntry', 'DeleteNetworkAcl', 'DeleteNetworkAclEntry', 'ReplaceNetworkAclEntry', 'ReplaceNetworkAclAssociation')
const GW = set('CreateCustomerGateway', 'DeleteCustomerGateway', 'AttachInternetGateway', 'CreateInternetGateway', 'DeleteInternetGateway', 'DetachInternetGateway')
const ROUTE = set('CreateRoute', 'CreateRouteTable', 'ReplaceRoute', 'ReplaceRouteTableAssociation', 'DeleteRouteTable', 'DeleteRoute', 'DisassociateRouteTable')
const VPC = set('CreateVpc', 'DeleteVpc', 'ModifyVpcAttribute', 'AcceptVpcPeeringConnection', 'CreateVpcPeeringConnection', 'DeleteVpcPeeringConnection',
  'RejectVpcPeeringConnection', 'AttachClassicLinkVpc', 'DetachClassicLinkVpc', 'DisableVpcClassicLink', 'EnableVpcClassicLink')
const ORG = set('AcceptHandshake', 'AttachPolicy', 'CreateAccount', 'CreateOrganizationalUnit', 'CreatePolicy', 'DeclineHandshake', 'DeleteOrganization', 'DeleteOrganizationalUnit',
  'DeletePolicy', 'DetachPolicy', 'DisablePolicyType', 'EnablePolicyType', 'InviteAccountToOrganization', 'LeaveOrganization', 'MoveAccount', 'RemoveAccountFromOrganization', 'UpdatePolicy', 'UpdateOrganizationalUnit')

const human = e => {
  const u = e.userIdentity || {}
  if (u.type === 'AWSService') return false
  const arn = ((u.sessionContext || {}).sessionIssuer || {}).arn || ''
  return !arn.includes(':role/aws-service-role/')
}
const change = (names, source) => e => names.has(e.eventName) && (!source || e.eventSource === source) && !e.errorCode && human(e)
const RULES = [
  e => { const c = e.errorCode || ''; return c.endsWith('UnauthorizedOperation') || (c.startsWith('AccessDenied') && e.sourceIPAddress !== 'delivery.logs.amazonaws.com' && e.eventName !== 'HeadBucket') },
  e => e.eventName === 'ConsoleLogin' && e.additionalEventData && 'MFAUsed' in e.additionalEventData && e.additionalEventData.MFAUsed !== 'Yes' && (e.userIdentity || {}).type === 'IAMUser' && (e.responseElements || {}).ConsoleLogin === 'Success',
  e => { const u = e.userIdentity || {}; return u.type === 'Root' && !('invokedBy' in u) && 'eventType' in e && e.eventType !== 'AwsServiceEvent' },
  change(IAM), change(UPDATE_TRAIL), e => e.eventName === 'ConsoleLogin' && e.errorMessage === 'Failed authentication',
  change(set('DisableKey', 'ScheduleKeyDeletion'), 'kms.amazonaws.com'), change(S3, 's3.amazonaws.com'), change(CONFIG, 'config.amazonaws.com'),
  change(SG), change(NACL), change(GW), change(ROUTE), change(VPC), change(ORG, 'organizations.amazonaws.com')
]

const buf = fs.readFileSync(process.argv[2])
const lines = buf.toString('utf8').split('\n').filter(Boolean)
const cis = builtinAlerts().filter(a => a.id.startsWith('cis-'))

async function best (n, f) {
  let t = Infinity; let out
  for (let i = 0; i < n; i++) { const s = performance.now(); out = await f(); t = Math.min(t, performance.now() - s) }
  return [t / 1000, out]
}
// Only evaluateMany is timed: each round's fresh engine is built before the clock starts.
let tn = Infinity; let nn
for (let i = 0; i < 5; i++) {
  const engine = new Engine({ alerts: cis, builtin: false })
  const s = performance.now()
  nn = (await engine.evaluateMany(buf)).length
  tn = Math.min(tn, performance.now() - s)
}
tn /= 1000
const [tj, nj] = await best(3, () => { let h = 0; for (const l of lines) { const e = JSON.parse(l); for (const r of RULES) if (r(e)) h++ } return h })
console.log(`events: ${lines.length}`)
console.log(`trailalerts evaluateMany (JSON Lines Buffer, 15 CIS alerts): ${Math.round(lines.length / tn).toLocaleString()} events/s (${nn} results)`)
console.log(`plain JavaScript rules over JSON.parse:                      ${Math.round(lines.length / tj).toLocaleString()} events/s (${nj} results)`)
console.log(`ratio: ${(tj / tn).toFixed(1)}x`)
if (nn !== nj) { console.error('result counts differ'); process.exit(1) }
