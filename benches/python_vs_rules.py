#!/usr/bin/env python3
"""Python binding vs the same CIS rules as plain Python functions over json.loads.

Usage: python benches/python_vs_rules.py EVENTS.jsonl
(make bench-python generates the corpus and runs this.)
"""
import json
import sys
import time

UPDATE_TRAIL = {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"}
IAM_POLICY = {"DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy",
              "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "AttachRolePolicy", "DetachRolePolicy",
              "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy"}
S3_POLICY = {"PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication", "DeleteBucketPolicy",
             "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication"}
CONFIG = {"StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"}
SG = {"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
      "CreateSecurityGroup", "DeleteSecurityGroup"}
NACL = {"CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"}
GW = {"CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway"}
ROUTE = {"CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable"}
VPC = {"CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
       "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink"}
ORG = {"AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy", "DeclineHandshake", "DeleteOrganization",
       "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy", "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization",
       "LeaveOrganization", "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit"}


def human(e):
    u = e.get("userIdentity") or {}
    if u.get("type") == "AWSService":
        return False
    arn = ((u.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn") or ""
    return ":role/aws-service-role/" not in arn


def ok(e):
    return not e.get("errorCode")


def change(names, source=None):
    return lambda e: e.get("eventName") in names and (source is None or e.get("eventSource") == source) and ok(e) and human(e)


def cis_4_1(e):
    code = e.get("errorCode") or ""
    return code.endswith("UnauthorizedOperation") or (code.startswith("AccessDenied") and e.get("sourceIPAddress") != "delivery.logs.amazonaws.com" and e.get("eventName") != "HeadBucket")


def cis_4_2(e):
    return (e.get("eventName") == "ConsoleLogin" and "MFAUsed" in (e.get("additionalEventData") or {})
            and e["additionalEventData"]["MFAUsed"] != "Yes" and (e.get("userIdentity") or {}).get("type") == "IAMUser"
            and (e.get("responseElements") or {}).get("ConsoleLogin") == "Success")


def cis_4_3(e):
    u = e.get("userIdentity") or {}
    return u.get("type") == "Root" and "invokedBy" not in u and "eventType" in e and e["eventType"] != "AwsServiceEvent"


def cis_4_6(e):
    return e.get("eventName") == "ConsoleLogin" and e.get("errorMessage") == "Failed authentication"


RULES = [cis_4_1, cis_4_2, cis_4_3, change(IAM_POLICY), change(UPDATE_TRAIL), cis_4_6,
         change({"DisableKey", "ScheduleKeyDeletion"}, "kms.amazonaws.com"), change(S3_POLICY, "s3.amazonaws.com"),
         change(CONFIG, "config.amazonaws.com"), change(SG), change(NACL), change(GW), change(ROUTE), change(VPC),
         change(ORG, "organizations.amazonaws.com")]


def python_rules(lines):
    hits = 0
    for line in lines:
        e = json.loads(line)
        for rule in RULES:
            if rule(e):
                hits += 1
    return hits


def best_of(n, f):
    best = None
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = f()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out


def main():
    import trailalerts  # only the comparison needs the binding; the rules are shared with peers_memory.py

    lines = open(sys.argv[1], "rb").read().splitlines()
    cis = [a for a in trailalerts.builtin_alerts() if a["id"].startswith("cis-")]
    assert len(cis) == 15

    blob = b"\n".join(lines)

    def native_best(events):
        # What is timed is evaluate_many; each round gets a fresh engine (no carried-over
        # state), built before the clock starts, as a script builds it once.
        best = None
        out = None
        for _ in range(5):
            engine = trailalerts.Engine(alerts=cis, builtin=False)
            t = time.perf_counter()
            out = len(engine.evaluate_many(events))
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        return best, out

    t_native, n_native = native_best(blob)
    t_list, n_list = native_best(lines)
    t_py, n_py = best_of(3, lambda: python_rules(lines))
    n = len(lines)
    print(f"{sys.argv[1]}: {n} events")
    print(f"trailalerts evaluate_many, JSON Lines bytes (15 CIS alerts): {n / t_native:,.0f} events/s ({n_native} results)")
    print(f"trailalerts evaluate_many, list of bytes:                   {n / t_list:,.0f} events/s ({n_list} results)")
    print(f"plain Python rules over json.loads:                         {n / t_py:,.0f} events/s ({n_py} results)")
    print(f"ratio: {t_py / t_native:.1f}x (JSON Lines), {t_py / t_list:.1f}x (list)")
    if not n_native == n_list == n_py:
        print("warning: result counts differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
