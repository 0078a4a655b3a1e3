"""Upload a corpus to a moto server (the ``moto_process`` fixture of conftest.py)."""

from __future__ import annotations

import urllib.request
from pathlib import Path


def upload_corpus(endpoint: str, corpus: Path, bucket: str, prefix: str) -> dict[str, str]:
    """Reset the server, upload every ``*.json.gz`` of ``corpus`` under ``prefix``; return the environment
    a kmsdiag child process needs to reach the server."""
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    client = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x"
    )
    client.create_bucket(Bucket=bucket)
    for f in sorted(corpus.rglob("*.json.gz")):
        client.put_object(Bucket=bucket, Key=prefix + f.relative_to(corpus).as_posix(), Body=f.read_bytes())
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
