"""Throughput of `trailalerts watch` through a local moto_server (S3 + SQS), end to end:
S3 notification -> receive -> GetObject -> inflate -> evaluate -> SQLite commit -> delete.

Usage: python benches/watch_moto.py LOG_DIR TRAILALERTS_BIN
LOG_DIR holds gzipped CloudTrail log files (benches' gen_logs example writes them).
Prints events/s for the whole drain and compares with `scan` of the same files.
"""
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import boto3

logs, binary = sys.argv[1], os.path.abspath(sys.argv[2])
files = sorted(glob.glob(os.path.join(logs, "**", "*.json.gz"), recursive=True))
venv_bin = os.path.dirname(sys.executable)

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
moto = subprocess.Popen([os.path.join(venv_bin, "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
    s3.create_bucket(Bucket="bench-trail")
    q = sqs.create_queue(QueueName="bench")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="bench-trail", NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    size = 0
    for i, f in enumerate(files):
        data = open(f, "rb").read()
        size += len(data)
        s3.put_object(Bucket="bench-trail", Key=f"AWSLogs/1/CloudTrail/us-east-1/2024/01/01/f{i}.json.gz", Body=data)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    with tempfile.TemporaryDirectory() as d:
        t = time.time()
        out = subprocess.run([binary, "watch", "--queue-url", q, "--endpoint-url", endpoint, "--db", os.path.join(d, "a.db"), "--exit-when-empty", "--wait-seconds", "1", "--no-notify"], env=env, capture_output=True, text=True)
        watch_s = time.time() - t
        last = [l for l in out.stderr.splitlines() if "stopped:" in l][-1]
        events = int(last.split("events=")[1].split()[0])
        t = time.time()
        subprocess.run([binary, "scan", "-q", "--output", "jsonl", "--db", os.path.join(d, "b.db"), logs], env=env, capture_output=True)
        scan_s = time.time() - t
        # EventBridge: one CloudTrail event per message (sent 10 per request).
        import gzip
        records = json.loads(gzip.decompress(open(files[0], "rb").read()))["Records"][:2000]
        for i in range(0, len(records), 10):
            sqs.send_message_batch(QueueUrl=q, Entries=[{"Id": str(j), "MessageBody": json.dumps({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.x", "detail": r})} for j, r in enumerate(records[i:i + 10])])
        t = time.time()
        out = subprocess.run([binary, "watch", "--queue-url", q, "--endpoint-url", endpoint, "--db", os.path.join(d, "c.db"), "--exit-when-empty", "--wait-seconds", "1", "--no-notify"], env=env, capture_output=True, text=True)
        eb_s = time.time() - t
        last = [l for l in out.stderr.splitlines() if "stopped:" in l][-1]
        eb_events = int(last.split("events=")[1].split()[0])
    print(json.dumps({"files": len(files), "MB": round(size / 1e6, 1), "events": events,
                      "watch_s": round(watch_s, 2), "watch_events_per_s": round(events / watch_s),
                      "scan_s": round(scan_s, 2), "scan_events_per_s": round(events / scan_s),
                      "eventbridge_messages": eb_events, "eventbridge_s": round(eb_s, 2),
                      "eventbridge_events_per_s": round(eb_events / eb_s)}))
finally:
    moto.kill()
