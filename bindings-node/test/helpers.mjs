import { fileURLToPath } from 'node:url'
import path from 'node:path'

export const here = path.dirname(fileURLToPath(import.meta.url))
export const repo = path.resolve(here, '..', '..')
export const samples = path.join(repo, 'core', 'cli', 'samples')
export const corpus = path.join(repo, 'tests', 'data', 'corpus')

export function event (id = 'e1', extra = {}) {
  return {
    eventVersion: '1.09',
    eventID: id,
    eventTime: '2024-05-01T10:00:00Z',
    eventSource: 'cloudtrail.amazonaws.com',
    eventName: 'StopLogging',
    awsRegion: 'eu-west-1',
    sourceIPAddress: '198.51.100.7',
    eventType: 'AwsApiCall',
    userIdentity: { type: 'IAMUser', userName: 'mallory', arn: 'arn:aws:iam::111122223333:user/mallory' },
    ...extra
  }
}
