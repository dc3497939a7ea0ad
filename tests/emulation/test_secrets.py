"""Secrets Manager: secrets from the template (generated, templated, literal), readable by functions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_local import LocalCloud

from .support import FIXTURES, START

NOTIFICATIONS_TEMPLATE = FIXTURES / "notifications.yaml"
SECRET_ARN = re.compile(r"^arn:aws:secretsmanager:eu-central-1:123456789012:secret:(?P<name>.+)-[A-Za-z0-9]{6}$")


@pytest.fixture
def secrets_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def test_generated_secret_is_referenced_by_arn_and_readable_by_a_function(secrets_cloud: LocalCloud) -> None:
    # Given a secret with GenerateSecretString {PasswordLength: 64, ExcludePunctuation: true}
    arn = secrets_cloud.ref("SigningSecret")
    # Then !Ref (and .Id) is the secret's ARN, and the function's environment carries it
    match = SECRET_ARN.match(arn)
    assert match and match["name"] == "crm-local-SigningSecret"
    assert secrets_cloud.get_att("SigningSecret", "Id") == arn
    assert secrets_cloud.functions["SecretFunction"].environment["SIGNING_SECRET_ARN"] == arn
    # When the function reads it with GetSecretValue
    result = secrets_cloud.invoke("SecretFunction", {"env": "SIGNING_SECRET_ARN"})
    # Then it gets 64 letters and digits
    assert result["arn"] == arn and result["name"] == "crm-local-SigningSecret"
    assert re.fullmatch(r"[A-Za-z0-9]{64}", result["value"])
    described = secrets_cloud.client("secretsmanager").describe_secret(SecretId=arn)
    assert described["Description"] == "Signs the links in e-mails (unsubscribe, tracking)."


def test_generated_secret_with_a_template_is_json_with_the_generated_key(secrets_cloud: LocalCloud) -> None:
    # Given SecretStringTemplate '{"username": "crm"}', GenerateStringKey password, 20 characters without "@/\
    result = secrets_cloud.invoke("SecretFunction", {"env": "DATABASE_SECRET_ARN"})
    assert result["name"] == "crm-local/database"  # Name: !Sub "${AWS::StackName}/database"
    value = json.loads(result["value"])
    assert value["username"] == "crm"
    assert len(value["password"]) == 20 and not set(value["password"]) & set('"@/\\')


def test_secret_string_is_stored_as_is(secrets_cloud: LocalCloud) -> None:
    assert secrets_cloud.invoke("SecretFunction", {"env": "API_KEY_SECRET_ARN"})["value"] == "not-so-secret"


def test_each_run_generates_a_new_value_unless_one_is_given(tmp_path: Path) -> None:
    values = []
    for _ in range(2):
        with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, quiet=True) as cloud:
            values.append(cloud.invoke("SecretFunction", {"env": "SIGNING_SECRET_ARN"})["value"])
    assert values[0] != values[1]
    given = {"SigningSecret": "k" * 40, "ApiKeySecret": "from-the-test"}
    with LocalCloud(template=NOTIFICATIONS_TEMPLATE, start=START, quiet=True, secrets=given) as cloud:
        assert cloud.invoke("SecretFunction", {"env": "SIGNING_SECRET_ARN"})["value"] == "k" * 40
        assert cloud.invoke("SecretFunction", {"env": "API_KEY_SECRET_ARN"})["value"] == "from-the-test"
