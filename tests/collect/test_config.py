"""kmsdiag.toml, environment and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.config import AccountConfig, apply_flags, load_config
from diag.errors import BadInputError, UsageError

GOOD = """
[collect]
regions = ["us-east-1", "eu-west-1"]
buckets = ["data-bucket"]
max_workers = 12

[[accounts]]
id = "111111111111"
profile = "security-audit"

[[accounts]]
id = "222222222222"
role_arn = "arn:aws:iam::222222222222:role/KmsdiagReadOnly"
external_id = "kmsdiag-ext"
session_name = "kmsdiag-nightly"
regions = ["us-west-2"]
buckets = ["app-bucket"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "kmsdiag.toml"
    p.write_text(text)
    return p


def test_config_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD), env={})
    a, b = cfg.accounts
    assert a == AccountConfig(account_id="111111111111", profile="security-audit")
    assert b.role_arn == "arn:aws:iam::222222222222:role/KmsdiagReadOnly" and b.external_id == "kmsdiag-ext"
    assert b.session_name == "kmsdiag-nightly"
    assert cfg.regions_for(a) == ("us-east-1", "eu-west-1") and cfg.regions_for(b) == ("us-west-2",)
    assert cfg.buckets_for(b) == ("data-bucket", "app-bucket")
    assert cfg.max_workers == 12


def test_found_in_working_directory_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, GOOD)
    monkeypatch.chdir(tmp_path)
    assert len(load_config(env={}).accounts) == 2
    other = tmp_path / "other.toml"
    other.write_text('[collect]\nregions = ["ap-south-1"]\n')
    cfg = load_config(env={"KMSDIAG_CONFIG": str(other), "KMSDIAG_REGIONS": "eu-central-1, us-east-2"})
    assert cfg.regions == ("eu-central-1", "us-east-2") and cfg.accounts == (AccountConfig(),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[accounts]]\nid = "1111"\n', "12-digit"),
        ('[[accounts]]\naws_secret_access_key = "x"\n', "never reads credentials"),
        ('[collect]\nregion = ["us-east-1"]\n', "unknown key"),
        ('[[accounts]]\nrole_arn = "arn:aws:iam::111111111111:user/x"\n', "not an IAM role ARN"),
        ('[[accounts]]\nid = "222222222222"\nrole_arn = "arn:aws:iam::111111111111:role/x"\n', "not in account"),
        ('[collect]\nregions = ["mars-1"]\n', "not valid"),
        ("[collect\n", "not valid TOML"),
        ('db = "x.duckdb"\n', "unknown key"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        load_config(_write(tmp_path, text), env={})


def test_flags_win(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD), env={})
    one = apply_flags(cfg, role_arn="arn:aws:iam::333333333333:role/R", external_id="e", regions=["sa-east-1"])
    (acct,) = one.accounts
    assert acct.account_id == "333333333333" and acct.external_id == "e"
    assert one.regions_for(acct) == ("sa-east-1",)
    with pytest.raises(UsageError):
        apply_flags(cfg, external_id="e")
    with pytest.raises(UsageError):
        apply_flags(cfg, regions=["nowhere"])
    with pytest.raises(UsageError):
        load_config(tmp_path / "missing.toml", env={})
