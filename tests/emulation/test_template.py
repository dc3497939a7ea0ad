"""Template loading and intrinsic resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from .support import START, TEMPLATE

from crm_local import LocalCloud, TemplateError, load_template
from crm_local.template import parse_yaml

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


def test_product_template_provisions_on_the_engine() -> None:
    # Given the product's template (handlers are imported lazily, on their first invocation)
    with LocalCloud(REPO / "template.yaml", start=START) as cloud:
        # Then its tables, queues, identities and schedules exist on the moto server
        tables = cloud.client("dynamodb").list_tables()["TableNames"]
        assert {cloud.physical_name(t) for t in ("ContactsTable", "ActivitiesTable", "FlowsTable", "IdempotencyTable")} <= set(tables)
        queues = cloud.client("sqs").list_queues()["QueueUrls"]
        assert len([q for q in queues if not q.endswith("/crm-local-eventbridge-tap")]) == 4  # the engine's bus tap aside
        identities = {i["IdentityName"] for i in cloud.client("sesv2").list_email_identities()["EmailIdentities"]}
        assert {"example.cz", "obchod@example.cz"} <= identities
        schedules = {s["Name"] for s in cloud.client("scheduler").list_schedules()["Schedules"]}
        assert schedules == {"crm-local-InactivityScanFunction-Daily", "crm-local-TimerSweepFunction-Every15Minutes",
                             "crm-local-DealScanFunction-Daily"}
        for bus in cloud.template.resources_of_type("AWS::Events::EventBus"):
            assert cloud.client("events").describe_event_bus(Name=cloud.ref(bus))["Arn"] == cloud.get_att(bus, "Arn")
        # and its triggers are wired
        assert "ActivityProcessorFunction.NewActivities" in [c.name for c in cloud.stream_consumers]
        assert [c.name for c in cloud.sqs_consumers] == ["TimerWorkerFunction.Timers"]
        assert {r.route_key: r.auth for r in cloud.routes()}["GET /openapi.json"] == "NONE"
        assert {r.auth for r in cloud.routes() if r.path != "/openapi.json"} == {"AWS_IAM"}
        assert cloud.invocations == {}
