"""Athena result rows rebuilt as the CloudTrail records they came from (pure)."""

from __future__ import annotations

from typing import Any

import orjson


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields that have a value (Athena gives NULL for a field the record did not carry)."""
    return {k: v for k, v in fields.items() if v is not None}


def transform_row(row: dict[str, str | None]) -> dict[str, Any]:
    """One result row (alias → text) rebuilt as the CloudTrail record it came from."""
    g = row.get
    identity = _present(
        {
            "type": g("ui_type"),
            "principalId": g("ui_principalid"),
            "arn": g("ui_arn"),
            "accountId": g("ui_accountid"),
            "invokedBy": g("ui_invokedby"),
            "accessKeyId": g("ui_accesskeyid"),
            "userName": g("ui_username"),
        }
    )
    issuer = _present(
        {
            "type": g("si_type"),
            "principalId": g("si_principalid"),
            "arn": g("si_arn"),
            "accountId": g("si_accountid"),
            "userName": g("si_username"),
        }
    )
    attributes = {  # an empty attribute is left out too
        k: v
        for k, v in {"mfaAuthenticated": g("sc_mfaauthenticated"), "creationDate": g("sc_creationdate")}.items()
        if v
    }
    if issuer or attributes:
        identity["sessionContext"] = {"sessionIssuer": issuer, "attributes": attributes}
    readonly = g("readonly")
    record: dict[str, Any] = {
        "eventVersion": g("eventversion"),
        "userIdentity": identity,
        "eventTime": g("eventtime"),
        "eventSource": g("eventsource"),
        "eventName": g("eventname"),
        "awsRegion": g("awsregion"),
        "sourceIPAddress": g("sourceipaddress"),
        "userAgent": g("useragent"),
        "requestParameters": _json_or_text(g("requestparameters")),
        "responseElements": _json_or_text(g("responseelements")),
        "requestID": g("requestid"),
        "eventID": g("eventid"),
        "readOnly": None if readonly is None else readonly.lower() == "true",
        "eventType": g("eventtype"),
        "recipientAccountId": g("recipientaccountid"),
        "eventCategory": g("eventcategory"),
    }
    for key, alias in (
        ("errorCode", "errorcode"),
        ("errorMessage", "errormessage"),
        ("sharedEventID", "sharedeventid"),
        ("vpcEndpointId", "vpcendpointid"),
    ):
        if g(alias) is not None:
            record[key] = g(alias)
    extra = _json_or_text(g("additionaleventdata"))
    if extra is not None:
        record["additionalEventData"] = extra
    resources = _json_or_text(g("resources_json"))
    if isinstance(resources, list) and resources:
        record["resources"] = [_present(r) for r in resources if isinstance(r, dict)]
    return {k: v for k, v in record.items() if v is not None or k in ("requestParameters", "responseElements")}


def transform_result_rows(result_set: dict[str, Any], *, first_page: bool) -> list[dict[str, str | None]]:
    """Athena's ``ResultSet`` → dicts by column name; the header row of the first page is dropped."""
    names = [c.get("Label") or c.get("Name") for c in result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
    rows = result_set.get("Rows", []) or []
    out = []
    for i, row in enumerate(rows):
        values = [d.get("VarCharValue") for d in row.get("Data", [])]
        if i == 0 and first_page and values == names:
            continue
        out.append(dict(zip(names, values, strict=False)))
    return out
