"""Parses every message in a maildir (as aiosmtpd's Mailbox handler writes them) with Python's
email package and prints them as JSON: headers, text part, HTML part, defects."""
import json
import mailbox
import sys
from email import policy
from email.parser import BytesParser

out = []
for key, msg in mailbox.Maildir(sys.argv[1], factory=None, create=False).items():
    m = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    text = m.get_body(preferencelist=("plain",))
    html = m.get_body(preferencelist=("html",))
    out.append({
        "headers": [[k, str(v)] for k, v in m.items()],
        "subject": str(m["subject"]),
        "from": str(m["from"]),
        "to": str(m["to"]),
        "text": text.get_content() if text else None,
        "html": html.get_content() if html else None,
        "defects": [str(d) for d in m.defects],
    })
print(json.dumps(out))
