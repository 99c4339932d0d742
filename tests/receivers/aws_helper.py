"""Sets up and reads SNS/SQS on a local moto_server for notification and SQS tests.

  aws_helper.py ENDPOINT sns-topic NAME      -> {"topic_arn", "queue_url"} (topic with an SQS subscriber)
  aws_helper.py ENDPOINT read QUEUE_URL      -> list of message bodies (waits up to 5 s for the first)
"""
import json
import sys

import boto3

endpoint, cmd = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sqs = boto3.client("sqs", **kw)
if cmd == "sns-topic":
    sns = boto3.client("sns", **kw)
    name = sys.argv[3]
    topic = sns.create_topic(Name=name)["TopicArn"]
    q = sqs.create_queue(QueueName=name + "-sub")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    print(json.dumps({"topic_arn": topic, "queue_url": q}))
elif cmd == "read":
    out = []
    wait = 5
    while True:
        r = sqs.receive_message(QueueUrl=sys.argv[3], MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        msgs = r.get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=sys.argv[3], ReceiptHandle=m["ReceiptHandle"])
        wait = 1
    print(json.dumps(out))
