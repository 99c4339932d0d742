#!/usr/bin/env python3
"""Side-by-side: trailalerts scan vs jq and Python+orjson rule functions on the same gzipped
CloudTrail logs with the 15 CIS alerts; checks that every tool reports the same number of
(event, rule) matches and prints events/s and ratios.

Usage: python benches/peers.py LOG_DIR TRAILALERTS_BIN   (make bench-peers sets everything up)
"""
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from python_vs_rules import RULES  # noqa: E402  the same rule functions as the binding bench

JQ_RULES = r'''
def human: ((.userIdentity.type // "") != "AWSService") and (((.userIdentity.sessionContext.sessionIssuer.arn // "") | contains(":role/aws-service-role/")) | not);
def ok: ((.errorCode // "") == "");
def ch($names): (.eventName as $n | $names | index($n)) != null and ok and human;
def chs($names; $src): ch($names) and .eventSource == $src;
[
  ((.errorCode // "") as $c | ($c | endswith("UnauthorizedOperation")) or (($c | startswith("AccessDenied")) and .sourceIPAddress != "delivery.logs.amazonaws.com" and .eventName != "HeadBucket")),
  (.eventName == "ConsoleLogin" and (.additionalEventData | type) == "object" and (.additionalEventData | has("MFAUsed")) and .additionalEventData.MFAUsed != "Yes" and .userIdentity.type == "IAMUser" and .responseElements.ConsoleLogin == "Success"),
  (.userIdentity.type == "Root" and (.userIdentity | has("invokedBy") | not) and has("eventType") and .eventType != "AwsServiceEvent"),
  ch(["DeleteGroupPolicy","DeleteRolePolicy","DeleteUserPolicy","PutGroupPolicy","PutRolePolicy","PutUserPolicy","CreatePolicy","DeletePolicy","CreatePolicyVersion","DeletePolicyVersion","AttachRolePolicy","DetachRolePolicy","AttachUserPolicy","DetachUserPolicy","AttachGroupPolicy","DetachGroupPolicy"]),
  ch(["CreateTrail","UpdateTrail","DeleteTrail","StartLogging","StopLogging"]),
  (.eventName == "ConsoleLogin" and .errorMessage == "Failed authentication"),
  chs(["DisableKey","ScheduleKeyDeletion"]; "kms.amazonaws.com"),
  chs(["PutBucketAcl","PutBucketPolicy","PutBucketCors","PutBucketLifecycle","PutBucketReplication","DeleteBucketPolicy","DeleteBucketCors","DeleteBucketLifecycle","DeleteBucketReplication"]; "s3.amazonaws.com"),
  chs(["StopConfigurationRecorder","DeleteDeliveryChannel","PutDeliveryChannel","PutConfigurationRecorder"]; "config.amazonaws.com"),
  ch(["AuthorizeSecurityGroupIngress","AuthorizeSecurityGroupEgress","RevokeSecurityGroupIngress","RevokeSecurityGroupEgress","CreateSecurityGroup","DeleteSecurityGroup"]),
  ch(["CreateNetworkAcl","CreateNetworkAclEntry","DeleteNetworkAcl","DeleteNetworkAclEntry","ReplaceNetworkAclEntry","ReplaceNetworkAclAssociation"]),
  ch(["CreateCustomerGateway","DeleteCustomerGateway","AttachInternetGateway","CreateInternetGateway","DeleteInternetGateway","DetachInternetGateway"]),
  ch(["CreateRoute","CreateRouteTable","ReplaceRoute","ReplaceRouteTableAssociation","DeleteRouteTable","DeleteRoute","DisassociateRouteTable"]),
  ch(["CreateVpc","DeleteVpc","ModifyVpcAttribute","AcceptVpcPeeringConnection","CreateVpcPeeringConnection","DeleteVpcPeeringConnection","RejectVpcPeeringConnection","AttachClassicLinkVpc","DetachClassicLinkVpc","DisableVpcClassicLink","EnableVpcClassicLink"]),
  chs(["AcceptHandshake","AttachPolicy","CreateAccount","CreateOrganizationalUnit","CreatePolicy","DeclineHandshake","DeleteOrganization","DeleteOrganizationalUnit","DeletePolicy","DetachPolicy","DisablePolicyType","EnablePolicyType","InviteAccountToOrganization","LeaveOrganization","MoveAccount","RemoveAccountFromOrganization","UpdatePolicy","UpdateOrganizationalUnit"]; "organizations.amazonaws.com")
] | map(select(.)) | length
'''


def timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def best_of(n, f):
    runs = [timed(f) for _ in range(n)]
    return min(runs, key=lambda r: r[0])


def run_trailalerts(binary, logdir, cis_file, threads):
    out = subprocess.run([binary, "scan", "-q", "--threads", str(threads), "--no-builtin", "--alerts", cis_file,
                          "--output", "csv", logdir], capture_output=True, text=True, check=True).stdout
    return max(0, len(out.splitlines()) - 1)


def run_jq(files):
    total = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            r = subprocess.run(["jq", "-c", ".Records[] | " + JQ_RULES], input=fh.read(), capture_output=True, check=True)
        total += sum(int(x) for x in r.stdout.split())
    return total


def run_python(files, loads):
    hits = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            doc = loads(fh.read())
        for e in doc["Records"]:
            for rule in RULES:
                if rule(e):
                    hits += 1
    return hits


def main():
    logdir, binary = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(logdir, "*.json.gz")))
    events = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            events += len(json.loads(fh.read())["Records"])
    tmp = tempfile.mkdtemp()
    cis_file = os.path.join(tmp, "cis.json")
    out = subprocess.run([binary, "alerts", "list", "--builtin", "--output", "json"], capture_output=True, text=True, check=True).stdout
    with open(cis_file, "w") as f:
        json.dump([a for a in json.loads(out) if a["id"].startswith("cis-")], f)
    cores = os.cpu_count() or 1
    # Every tool but jq (one slow run) is timed best of 3.
    rows = [(f"trailalerts scan, {cores} threads", *best_of(3, lambda: run_trailalerts(binary, logdir, cis_file, cores))),
            ("trailalerts scan --threads 1", *best_of(3, lambda: run_trailalerts(binary, logdir, cis_file, 1)))]
    try:
        import orjson
        rows.append(("Python + orjson + rule functions", *best_of(3, lambda: run_python(files, orjson.loads))))
    except ImportError:
        print("orjson not installed; skipped", file=sys.stderr)
    rows.append(("Python + json + rule functions", *best_of(3, lambda: run_python(files, json.loads))))
    if shutil.which("jq"):
        rows.append(("jq (one process per file)", *timed(lambda: run_jq(files))))
    every, one = rows[0][1], rows[1][1]
    print(f"{events} events in {len(files)} gzipped log files, 15 CIS rules each")
    print(f"{'tool':40} {'events/s':>12} {'matches':>9} {'vs all cores':>13} {'vs one core':>12}")
    for name, secs, matches in rows:
        print(f"{name:40} {events / secs:12,.0f} {matches:9} {secs / every:12.1f}x {secs / one:11.1f}x")
    counts = {m for _, _, m in rows}
    if len(counts) != 1:
        print(f"match counts differ: {[(n, m) for n, _, m in rows]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
