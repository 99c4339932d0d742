import json
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = REPO / "core" / "cli" / "samples"
CORPUS = REPO / "tests" / "data" / "corpus"


def event(event_id="e1", name="StopLogging", source="cloudtrail", user="mallory", time="2024-05-01T10:00:00Z", **extra):
    e = {
        "eventVersion": "1.09",
        "eventID": event_id,
        "eventTime": time,
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "userName": user, "arn": f"arn:aws:iam::111122223333:user/{user}"},
    }
    e.update(extra)
    return e


@pytest.fixture
def samples():
    return SAMPLES


@pytest.fixture
def corpus():
    return CORPUS


def stratus(name):
    return json.loads((CORPUS / "stratus-red-team" / f"aws.{name}.json").read_text())["Records"]
