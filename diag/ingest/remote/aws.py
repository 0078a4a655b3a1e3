"""boto3 clients for the remote sources, and AWS error classification.

Sessions (a profile, or a role assumed e.g. in a log-archive account) come from
``diag.collect.session.open_account``. ``AWS_ENDPOINT_URL`` (botocore's own setting) points every client at
another endpoint, which is how the tests reach moto's server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag import awsconfig

if TYPE_CHECKING:
    import boto3

# Error codes that mean "try again later" rather than "you may not".
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "503",
        "500",
    }
)
REFUSED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AllAccessDisabled",
    }
)


def make_client(
    session: boto3.Session | None,
    service: str,
    *,
    region: str | None = None,
    pool: int = 10,
    max_attempts: int = awsconfig.TRANSFER_MAX_ATTEMPTS,
) -> Any:
    """A client with a connection pool sized for concurrent use and kmsdiag's retry policy (``diag.awsconfig``)."""
    import boto3

    cfg = awsconfig.client_config(
        pool=pool, max_attempts=max_attempts, user_agent="kmsdiag-ingest", mode=awsconfig.TRANSFER_RETRY_MODE
    )
    sess: Any = session or boto3.Session()
    return sess.client(service, region_name=region or sess.region_name or "us-east-1", config=cfg)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (or None for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection errors: worth retrying after a pause."""
    code = error_code(exc)
    if code is not None:
        return code in TRANSIENT_CODES
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, BotoConnectionError | ReadTimeoutError | ConnectionError | TimeoutError)


def is_refused(exc: BaseException) -> bool:
    """Credentials or permissions: retrying will not help."""
    code = error_code(exc)
    if code in REFUSED_CODES:
        return True
    try:
        from botocore.exceptions import NoCredentialsError, PartialCredentialsError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NoCredentialsError | PartialCredentialsError)


def describe_error(exc: BaseException) -> str:
    """One line: the AWS error code and message, or the exception text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
