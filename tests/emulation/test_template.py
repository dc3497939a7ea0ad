"""Template loading and intrinsic resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from .support import START, TEMPLATE

from crm_local import LocalCloud, TemplateError, load_template
from crm_local.template import Template, parse_yaml

REPO = Path(__file__).resolve().parents[2]


def test_short_form_intrinsics_are_parsed() -> None:
    # Given a template with short-form tags
    text = 'A: !Ref X\nB: !GetAtt T.StreamArn\nC: !Sub "${AWS::Region}-x"\nD: !If [C, 1, 2]\nE: !Not [!Equals [a, b]]\nF: 2010-09-09\n'
    # When it is parsed
    data = parse_yaml(text)
    # Then the tags become long-form intrinsics and dates stay strings
    assert data == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["T", "StreamArn"]},
        "C": {"Fn::Sub": "${AWS::Region}-x"},
        "D": {"Fn::If": ["C", 1, 2]},
        "E": {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
        "F": "2010-09-09",
    }


def test_function_environment_resolves_names_urls_and_parameters(cloud: LocalCloud) -> None:
    # Given the fixture template running locally
    env = cloud.functions["StreamFunction"].environment
    # Then Globals and the function's own variables are merged and every intrinsic is resolved
    assert env["ITEMS_TABLE"] == "crm-local-ItemsTable" == cloud.physical_name("ItemsTable")
    assert env["WORK_QUEUE_URL"] == f"{cloud.endpoint_url}/123456789012/crm-local-WorkQueue"
    assert env["CONFIG_SET"] == "crm-local-MailConfigSet"
    assert env["FAILURE_QUEUE_NAME"] == "crm-local-StreamFailureQueue"
    assert env["GREETING"] == "ahoj" and env["MAX_ITEMS"] == "5" and env["ROLE"] == "stream"
    assert env["WHERE"] == "eu-central-1/123456789012/crm-local-ItemsTable"
    assert env["FLAG_STATE"] == "off"
    assert "ROLE" not in cloud.functions["WorkerFunction"].environment
    # and the resources exist on the moto server under those names
    tables = cloud.client("dynamodb").list_tables()["TableNames"]
    assert "crm-local-ItemsTable" in tables
    ttl = cloud.client("dynamodb").describe_time_to_live(TableName="crm-local-ItemsTable")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires"
    redrive = cloud.client("sqs").get_queue_attributes(QueueUrl=env["WORK_QUEUE_URL"], AttributeNames=["RedrivePolicy"])
    assert "crm-local-WorkDeadLetterQueue" in redrive["Attributes"]["RedrivePolicy"]


def test_parameters_can_be_overridden_and_conditions_follow(tmp_path: Path) -> None:
    # Given parameter overrides
    with LocalCloud(TEMPLATE, start=START, parameters={"Greeting": "hello", "Flag": "x"}) as cloud:
        env = cloud.functions["ApiFunction"].environment
        # Then the environment and conditions use them
        assert env["GREETING"] == "hello"
        assert env["FLAG_STATE"] == "on"
        # When the public route runs, the handler sees the value
        assert cloud.http("GET", "/public", token=None).json() == {"hello": "hello"}


def test_unknown_parameter_is_rejected() -> None:
    with pytest.raises(TemplateError, match="unknown parameter"):
        load_template(TEMPLATE, parameters={"Nope": "1"})


def test_product_template_resolves_every_function() -> None:
    # Given the product's template (the contract)
    template = load_template(REPO / "template.yaml")
    for lid in template.resources:
        template.refs[lid] = f"crm-local-{lid}"
        for attr in ("Arn", "StreamArn", "QueueName"):
            template.attributes[(lid, attr)] = f"{lid}.{attr}"
    # When every function is resolved
    functions = template.functions()
    # Then each has a handler path and a fully resolved environment
    assert {"ApiFunction", "InactivityScanFunction", "TimerSweepFunction", "TimerWorkerFunction", "ActivityProcessorFunction"} <= set(functions)
    for spec in functions.values():
        assert spec.code_uri.is_dir()
        assert all(isinstance(v, str) and "Ref" not in v for v in spec.environment.values())
    assert functions["InactivityScanFunction"].timeout == 900
    assert functions["ApiFunction"].memory_size == 512


def test_two_clouds_one_after_another_start_fresh() -> None:
    # Given a first cloud that wrote an item
    with LocalCloud(TEMPLATE, start=START) as first:
        first.client("dynamodb").put_item(TableName="crm-local-ItemsTable", Item={"pk": {"S": "x"}})
        port = first.moto_port
    # When a second cloud starts in the same process
    with LocalCloud(TEMPLATE, start=START) as second:
        # Then it reuses the port (cached clients keep working) and its table is empty
        assert second.moto_port == port
        assert second.client("dynamodb").scan(TableName="crm-local-ItemsTable")["Count"] == 0


def _events_of_type(template: Template, event_type: str) -> dict[str, dict]:
    """``{"<Function>.<Event>": raw properties}`` of every event of ``event_type`` in the template (unresolved)."""
    return {
        f"{lid}.{name}": event.get("Properties") or {}
        for lid in template.resources_of_type("AWS::Serverless::Function")
        for name, event in (template.function_properties(lid).get("Events") or {}).items()
        if event.get("Type") == event_type
    }


def test_product_template_provisions_on_the_engine() -> None:
    # Given the product's template (handlers are imported lazily, on their first invocation); what it declares is
    # read from the file itself, so the check follows the template as it grows
    declared = load_template(REPO / "template.yaml")

    def of_type(resource_type: str) -> list[str]:
        return list(declared.resources_of_type(resource_type))

    assert of_type("AWS::DynamoDB::Table") and of_type("AWS::SQS::Queue") and of_type("AWS::SSM::Parameter")
    with LocalCloud(REPO / "template.yaml", start=START) as cloud:
        # Then every table, queue, topic, secret and parameter of the template exists on the moto server, and no other
        tables = set(cloud.client("dynamodb").list_tables()["TableNames"])
        assert tables == {cloud.physical_name(t) for t in of_type("AWS::DynamoDB::Table")}
        tap = f"/{cloud.name_prefix}-eventbridge-tap"  # the engine's own queue behind its bus tap
        queues = {q for q in cloud.client("sqs").list_queues(MaxResults=1000)["QueueUrls"] if not q.endswith(tap)}
        assert queues == {cloud.ref(q) for q in of_type("AWS::SQS::Queue")}
        for queue in of_type("AWS::SQS::Queue"):
            redrive = (declared.resources[queue].get("Properties") or {}).get("RedrivePolicy")
            if redrive:
                attributes = cloud.client("sqs").get_queue_attributes(QueueUrl=cloud.ref(queue), AttributeNames=["RedrivePolicy"])
                dead_letter = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
                assert dead_letter == cloud.template.resolve(redrive)["deadLetterTargetArn"]
                assert dead_letter in {cloud.get_att(q, "Arn") for q in of_type("AWS::SQS::Queue")}
        topics = {t["TopicArn"] for t in cloud.client("sns").list_topics()["Topics"]}
        assert topics == {cloud.ref(t) for t in of_type("AWS::SNS::Topic")}
        secrets = {s["ARN"] for s in cloud.client("secretsmanager").list_secrets()["SecretList"]}
        assert secrets == {cloud.ref(s) for s in of_type("AWS::SecretsManager::Secret")}
        ssm = cloud.client("ssm")
        for parameter in of_type("AWS::SSM::Parameter"):
            stored = ssm.get_parameter(Name=cloud.ref(parameter))["Parameter"]
            assert stored["Value"] == cloud.get_att(parameter, "Value") and stored["Type"] == cloud.get_att(parameter, "Type")
        # and the functions find the public URL parameter under the name they are given, with Powertools
        from aws_lambda_powertools.utilities import parameters

        public_url = cloud.ref("PublicUrlParameter")
        assert public_url == f"/{cloud.name_prefix}/public-url"
        assert {spec.environment.get("PUBLIC_URL_PARAMETER") for spec in cloud.functions.values()} - {None} == {public_url}
        assert parameters.get_parameter(public_url, force_fetch=True) == "https://CrmHttpApi.execute-api.eu-central-1.amazonaws.com"
        # its identities, configuration sets, buses and schedules exist too
        identities = {i["IdentityName"] for i in cloud.client("sesv2").list_email_identities()["EmailIdentities"]}
        assert {cloud.ref(i) for i in of_type("AWS::SES::EmailIdentity")} | {declared.parameters["SenderEmail"]} <= identities
        config_sets = set(cloud.client("sesv2").list_configuration_sets()["ConfigurationSets"])
        assert config_sets == {cloud.ref(c) for c in of_type("AWS::SES::ConfigurationSet")}
        for bus in of_type("AWS::Events::EventBus"):
            assert cloud.client("events").describe_event_bus(Name=cloud.ref(bus))["Arn"] == cloud.get_att(bus, "Arn")
        schedules = {s["Name"] for s in cloud.client("scheduler").list_schedules()["Schedules"]}
        assert schedules == {
            str(cloud.template.resolve(props.get("Name") or f"{cloud.name_prefix}-{key.replace('.', '-')}"))
            for key, props in _events_of_type(declared, "ScheduleV2").items()
        }
        # and every function is loaded with its triggers wired
        assert set(cloud.functions) == set(of_type("AWS::Serverless::Function"))
        assert {c.name for c in cloud.stream_consumers} == set(_events_of_type(declared, "DynamoDB"))
        assert {c.name for c in cloud.sqs_consumers} == set(_events_of_type(declared, "SQS"))
        assert {c.name: c.queue_arn for c in cloud.sqs_consumers} == {
            key: cloud.template.resolve(props["Queue"]) for key, props in _events_of_type(declared, "SQS").items()
        }
        # every route of the template is served; only those the template marks public (Authorizer: NONE) skip IAM auth
        http_events = _events_of_type(declared, "HttpApi")
        expected_auth = {
            f"{props['Method'].upper()} {props['Path']}": "NONE" if (props.get("Auth") or {}).get("Authorizer") == "NONE" else "AWS_IAM"
            for props in http_events.values()
        }
        assert len(expected_auth) == len(http_events)  # no route declared twice
        assert {r.route_key: r.auth for r in cloud.routes()} == expected_auth
        assert expected_auth["GET /openapi.json"] == "NONE" and expected_auth["POST /contacts"] == "AWS_IAM"
        assert declared.resources["CrmHttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
        assert cloud.invocations == {}
