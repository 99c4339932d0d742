"""Sets up and reads SNS/SQS on a local moto_server for notification and SQS tests.

  aws_helper.py ENDPOINT sns-topic NAME      -> {"topic_arn", "queue_url"} (topic with an SQS subscriber)
  aws_helper.py ENDPOINT read QUEUE_URL      -> list of message bodies (waits up to 5 s for the first)
  aws_helper.py ENDPOINT watch-setup NAME [MAX] -> {"bucket", "queue_url", "dlq_url"}: a queue with a
      dead-letter queue (maxReceiveCount MAX, default 1; visibility 1 s) that the bucket's ObjectCreated events feed
  aws_helper.py ENDPOINT put BUCKET KEY FILE [gzip]  -> uploads FILE (gzip-compressed when asked)
  aws_helper.py ENDPOINT send QUEUE_URL FILE  -> sends FILE's content as one message
  aws_helper.py ENDPOINT count QUEUE_URL      -> {"visible": n, "in_flight": n}
"""
import gzip
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
elif cmd == "watch-setup":
    name = sys.argv[3]
    max_receives = sys.argv[4] if len(sys.argv) > 4 else "1"
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket=name + "-trail")
    dlq = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}),
    })["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=name + "-trail", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": q_arn, "Events": ["s3:ObjectCreated:*"]}]})
    print(json.dumps({"bucket": name + "-trail", "queue_url": q, "dlq_url": dlq}))
elif cmd == "put":
    bucket, key, path = sys.argv[3], sys.argv[4], sys.argv[5]
    data = open(path, "rb").read()
    if len(sys.argv) > 6 and sys.argv[6] == "gzip":
        data = gzip.compress(data)
    boto3.client("s3", **kw).put_object(Bucket=bucket, Key=key, Body=data)
    print(json.dumps({"size": len(data)}))
elif cmd == "send":
    body = open(sys.argv[4], encoding="utf-8").read()
    print(json.dumps(sqs.send_message(QueueUrl=sys.argv[3], MessageBody=body)["MessageId"]))
elif cmd == "count":
    a = sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    print(json.dumps({"visible": int(a["ApproximateNumberOfMessages"]), "in_flight": int(a["ApproximateNumberOfMessagesNotVisible"])}))
