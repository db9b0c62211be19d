"""The sandbox account: its id and region (moto's defaults), and boto3
clients of it with the sandbox's placeholder credentials."""

from __future__ import annotations

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"


def client(service: str, endpoint: str, region: str = REGION):
    """A client of the sandbox's moto at `endpoint` (moto accepts any key)."""
    # Imported here: the account's id is wanted where boto3 is not (`oidc-token`).
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(retries={"max_attempts": 2}),
    )
