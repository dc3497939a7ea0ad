"""SSM Parameter Store: parameters from the template (named, generated names, StringList), readable by functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_local import LocalCloud, TemplateError

from .support import FIXTURES, START

PARAMETERS_TEMPLATE = FIXTURES / "parameters.yaml"
API_URL = "https://Api.execute-api.eu-central-1.amazonaws.com"  # !Ref of an HttpApi is its logical id locally


@pytest.fixture
def parameters_cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=PARAMETERS_TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running


def test_named_parameter_is_referenced_by_name_and_readable_with_powertools(parameters_cloud: LocalCloud) -> None:
    # Given Name: !Sub "/${AWS::StackName}/public-url" and a Value that !Subs the HTTP API's id
    name = parameters_cloud.ref("PublicUrlParameter")
    # Then !Ref is the parameter's name (as in CloudFormation), .Type and .Value are there too
    assert name == "/crm-local/public-url" == parameters_cloud.physical_name("PublicUrlParameter")
    assert parameters_cloud.get_att("PublicUrlParameter", "Type") == "String"
    assert parameters_cloud.get_att("PublicUrlParameter", "Value") == API_URL
    env = parameters_cloud.functions["ParameterFunction"].environment
    assert env["PUBLIC_URL_PARAMETER"] == name and env["PUBLIC_URL"] == API_URL
    # When the function reads it with Powertools' get_parameter
    result = parameters_cloud.invoke("ParameterFunction", {"env": "PUBLIC_URL_PARAMETER"})
    # Then it gets the value from the moto server
    assert result == {"name": name, "value": API_URL}
    ssm = parameters_cloud.client("ssm")
    (described,) = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert described["Type"] == "String"
    assert described["Description"] == "Base URL of the HTTP API (read at runtime to avoid a template cycle)."
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert tags == [{"Key": "stage", "Value": "test"}]


def test_parameter_without_a_name_gets_a_generated_one_and_string_lists_are_kept(parameters_cloud: LocalCloud) -> None:
    # Given a StringList parameter without Name whose value joins two queue names
    name = parameters_cloud.ref("QueueNamesParameter")
    assert name == "crm-local-QueueNamesParameter"
    parameter = parameters_cloud.client("ssm").get_parameter(Name=name)["Parameter"]
    assert parameter["Type"] == "StringList" == parameters_cloud.get_att("QueueNamesParameter", "Type")
    assert parameter["Value"] == "crm-local-WorkQueue,crm-local-OtherQueue"
    result = parameters_cloud.invoke("ParameterFunction", {"env": "QUEUE_NAMES_PARAMETER"})
    assert result["value"] == "crm-local-WorkQueue,crm-local-OtherQueue"


def test_a_parameter_built_from_another_is_created_after_it(parameters_cloud: LocalCloud) -> None:
    # Given CopiedUrlParameter (declared first) with Value !Sub "${PublicUrlParameter.Value}/u"
    assert parameters_cloud.ref("CopiedUrlParameter") == "crm-local-CopiedUrlParameter"
    result = parameters_cloud.invoke("ParameterFunction", {"env": "COPIED_URL_PARAMETER"})
    assert result["value"] == f"{API_URL}/u"


def test_a_later_cloud_on_another_port_is_read_fresh() -> None:
    # Given a function that read a parameter in a first cloud (Powertools caches the value and its client)
    with LocalCloud(template=PARAMETERS_TEMPLATE, start=START, quiet=True) as first:
        assert first.invoke("ParameterFunction", {"env": "PUBLIC_URL_PARAMETER"})["value"] == API_URL
    # When a second cloud on another moto port runs under another stack name
    with LocalCloud(template=PARAMETERS_TEMPLATE, start=START, quiet=True, moto_port=0, name_prefix="crm-other") as second:
        # Then its function reads its own parameter from its own moto server
        result = second.invoke("ParameterFunction", {"env": "PUBLIC_URL_PARAMETER"})
        assert result == {"name": "/crm-other/public-url", "value": API_URL}


def test_unsupported_parameter_type_is_reported(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Secure:\n    Type: AWS::SSM::Parameter\n    Properties: {Type: SecureString, Value: x}\n"
    )
    with pytest.raises(TemplateError, match="SecureString"):
        LocalCloud(template=template, start=START).start()
