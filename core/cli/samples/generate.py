#!/usr/bin/env python3
"""Writes the bundled sample CloudTrail logs (deterministic: same output every run).

One fictional account (111122223333) over one morning: ordinary activity from people, CI and
AWS services, with a few incidents mixed in. Addresses come from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
"""
import gzip, json, os, random, uuid
from datetime import datetime, timedelta, timezone

ACCOUNT = "111122223333"
rng = random.Random(20261120)
HERE = os.path.dirname(os.path.abspath(__file__))
T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=timezone.utc)


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iam_user(name):
    return {"type": "IAMUser", "principalId": "AIDA" + name.upper()[:8].ljust(8, "X") + "EXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "accountId": ACCOUNT,
            "accessKeyId": "AKIA" + name.upper()[:8].ljust(8, "Q") + "EXAMPLE", "userName": name}


def role(role_name, session, path="/"):
    return {"type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID:" + session,
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}", "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLETEMPKEY",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID",
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role{path}{role_name}",
                                                 "accountId": ACCOUNT, "userName": role_name},
                               "attributes": {"creationDate": "2026-11-20T07:00:00Z", "mfaAuthenticated": "false"}}}


ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}


def ev(t, source, name, who, ip, region="eu-west-1", req=None, resp=None, error=None, extra=None, etype="AwsApiCall", ua="aws-cli/2.15.0 Python/3.11.6 Linux/6.1"):
    e = {"eventVersion": "1.09", "userIdentity": who, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "eventSource": f"{source}.amazonaws.com", "eventName": name, "awsRegion": region,
         "sourceIPAddress": ip, "userAgent": ua, "requestParameters": req, "responseElements": resp,
         "requestID": uid(), "eventID": uid(), "readOnly": name.startswith(("Describe", "Get", "List", "Head")),
         "eventType": etype, "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management"}
    if error:
        e["errorCode"], e["errorMessage"] = error
    if extra:
        e.update(extra)
    return e


def routine(t):
    """Background noise: reads by people, CI and services."""
    out = []
    for i in range(120):
        t = t + timedelta(seconds=rng.randint(5, 40))
        pick = rng.random()
        if pick < 0.35:
            out.append(ev(t, "ec2", rng.choice(["DescribeInstances", "DescribeSecurityGroups", "DescribeVpcs"]), iam_user("alice"), "198.51.100.10"))
        elif pick < 0.55:
            out.append(ev(t, "s3", "GetBucketLocation", role("ci-deploy", "gh-run-" + str(rng.randint(1000, 9999))), "192.0.2.44", req={"bucketName": "acme-artifacts"}))
        elif pick < 0.7:
            out.append(ev(t, "sts", "AssumeRole", {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "ec2.amazonaws.com",
                          req={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/web-instance", "roleSessionName": "i-0abc123"}))
        elif pick < 0.8:
            out.append(ev(t, "kms", "Decrypt", role("web-instance", "i-0abc123"), "AWS Internal", req={"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}))
        elif pick < 0.9:
            out.append(ev(t, "cloudtrail", "LookupEvents", iam_user("bob"), "2001:db8::42"))
        else:
            out.append(ev(t, "iam", "ListUsers", iam_user("alice"), "198.51.100.10", region="us-east-1"))
    return out, t


def signin(t, who, mfa, ok=True, ip="203.0.113.50"):
    e = ev(t, "signin", "ConsoleLogin", who, ip, region="us-east-1", resp={"ConsoleLogin": "Success" if ok else "Failure"},
           extra={"additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}},
           etype="AwsConsoleSignIn", ua="Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0")
    if not ok:
        e["errorMessage"] = "Failed authentication"
    e["readOnly"] = False
    return e


def incidents(t):
    out = []
    step = lambda s=30: t + timedelta(seconds=s)
    # 1. Root signs in to the console and looks around.
    t = step(); out.append(signin(t, ROOT, mfa=True, ip="203.0.113.9"))
    t = step(45); out.append(ev(t, "iam", "GetAccountSummary", ROOT, "203.0.113.9", region="us-east-1"))
    # 2. A contractor signs in without MFA.
    t = step(); out.append(signin(t, iam_user("contractor-dana"), mfa=False, ip="198.51.100.77"))
    # 3. Password guessing against mallory's user: a burst of failures.
    for i in range(6):
        t = step(4); out.append(signin(t, {"type": "IAMUser", "accountId": ACCOUNT, "principalId": "AIDAMALLORYEXAMPLE", "userName": "ops-admin"}, mfa=False, ok=False, ip="192.0.2.200"))
    # 4. A leaked CI key probes the account: a burst of AccessDenied.
    leaked = iam_user("ci-legacy")
    for i in range(25):
        t = step(2)
        name = rng.choice(["ListBuckets", "DescribeInstances", "ListUsers", "GetSecretValue", "ListFunctions20150331"])
        src = {"ListBuckets": "s3", "DescribeInstances": "ec2", "ListUsers": "iam", "GetSecretValue": "secretsmanager", "ListFunctions20150331": "lambda"}[name]
        code = "Client.UnauthorizedOperation" if src == "ec2" else "AccessDenied"
        out.append(ev(t, src, name, leaked, "192.0.2.200", error=(code, "User is not authorized to perform this operation")))
    # 5. Persistence: a new admin user with a login profile and an access key.
    adm = role("AdminSSO", "mallory@example.com")
    t = step(); out.append(ev(t, "iam", "CreateUser", adm, "192.0.2.200", region="us-east-1", req={"userName": "backup-svc"},
                              resp={"user": {"userName": "backup-svc", "arn": f"arn:aws:iam::{ACCOUNT}:user/backup-svc", "userId": "AIDABACKUPSVCEXAMPLE", "path": "/"}}))
    t = step(); out.append(ev(t, "iam", "AttachUserPolicy", adm, "192.0.2.200", region="us-east-1",
                              req={"userName": "backup-svc", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
    t = step(); out.append(ev(t, "iam", "CreateLoginProfile", adm, "192.0.2.200", region="us-east-1", req={"userName": "backup-svc", "passwordResetRequired": False}))
    t = step(); out.append(ev(t, "iam", "CreateAccessKey", adm, "192.0.2.200", region="us-east-1", req={"userName": "backup-svc"},
                              resp={"accessKey": {"userName": "backup-svc", "accessKeyId": "AKIABACKUPSVCEXAMPLE", "status": "Active"}}))
    # 6. Defense evasion: stop CloudTrail, delete the GuardDuty detector.
    t = step(); out.append(ev(t, "cloudtrail", "StopLogging", adm, "192.0.2.200", req={"name": f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/org-trail"}))
    t = step(); out.append(ev(t, "guardduty", "DeleteDetector", adm, "192.0.2.200", req={"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}))
    # 7. SSH opened to the world.
    t = step(); out.append(ev(t, "ec2", "AuthorizeSecurityGroupIngress", adm, "192.0.2.200",
                              req={"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                   "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
                              resp={"_return": True, "securityGroupRuleSet": {"items": [{"groupId": "sg-0123456789abcdef0", "securityGroupRuleId": "sgr-0a1b2c3d4e5f67890", "isEgress": False, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}}))
    # 8. Exfiltration prep: public access block removed and a snapshot shared publicly.
    t = step(); out.append(ev(t, "s3", "DeleteBucketPublicAccessBlock", adm, "192.0.2.200", req={"bucketName": "acme-finance-reports", "publicAccessBlock": ""}))
    t = step(); out.append(ev(t, "ec2", "ModifySnapshotAttribute", adm, "192.0.2.200",
                              req={"snapshotId": "snap-0abcdef1234567890", "attributeType": "CREATE_VOLUME_PERMISSION",
                                   "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}))
    # Not an incident: an AWS service-linked role manages its own security group.
    t = step(); out.append(ev(t, "ec2", "AuthorizeSecurityGroupIngress", role("AWSServiceRoleForElasticLoadBalancing", "ElasticLoadBalancing", "/aws-service-role/elasticloadbalancing.amazonaws.com/"),
                              "elasticloadbalancing.amazonaws.com", req={"groupId": "sg-0fedcba9876543210", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/16"}]}}]}}))
    # Not an incident: a failed attempt to change a bucket policy changes nothing.
    t = step(); out.append(ev(t, "s3", "PutBucketPolicy", iam_user("bob"), "2001:db8::42", req={"bucketName": "acme-artifacts"}, error=("MalformedPolicy", "Policy has invalid resource")))
    return out, t


def write(path, records, gz=False, jsonl=False):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if jsonl:
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    else:
        data = json.dumps({"Records": records}, separators=(",", ":")).encode()
    if gz:
        with open(full, "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
                g.write(data)
    else:
        with open(full, "wb") as f:
            f.write(data)


base = f"AWSLogs/{ACCOUNT}/CloudTrail"
a, t = routine(T0)
write(f"{base}/eu-west-1/2026/11/20/{ACCOUNT}_CloudTrail_eu-west-1_20261120T0800Z_aK3f9TqLmZ2b.json.gz", a, gz=True)
b, t = incidents(t)
c, t = routine(t)
write(f"{base}/eu-west-1/2026/11/20/{ACCOUNT}_CloudTrail_eu-west-1_20261120T0900Z_Qw8eR2tYu1Io.json.gz", b + c[:20], gz=True)
write(f"{base}/us-east-1/2026/11/20/{ACCOUNT}_CloudTrail_us-east-1_20261120T0930Z_Zx7cV5bNm3Lk.json", c[20:])
# An export from a log shipper: JSON Lines, with one record damaged in transit.
d, t = routine(t)
lines = [json.dumps(r, separators=(",", ":")) for r in d[:30]]
lines[12] = lines[12][: len(lines[12]) // 2]
os.makedirs(os.path.join(HERE, "exports"), exist_ok=True)
with open(os.path.join(HERE, "exports/siem-export.jsonl"), "w") as f:
    f.write("\n".join(lines) + "\n")
