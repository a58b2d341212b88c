"""``template.yaml`` is the source of truth of what gets deployed: these tests read it and prove its contracts.

Configuration reaches the functions exactly as ``config.py`` reads it, the bucket keeps data safe (lifecycle,
encryption, no public access, TLS only), the state machine receives the substitutions its definition uses, the
schedule, alarms and dashboard watch the right things, and the build needs neither Docker nor a local Python 3.13.
The IAM contracts are in ``test_template_iam.py``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

import pytest

from kubecost_flexera.adapters import flexera_auth
from kubecost_flexera.config import load_settings
from kubecost_flexera.errors import ConfigurationError
from local.runner_template import ROOT
from tests.fixtures.template import BILL_CONNECT_METRICS, CUSTOM_METRICS, SOURCE_METRICS, Deployment

if TYPE_CHECKING:
    from collections.abc import Iterator

FUNCTIONS: Final = ("PlanFunction", "ExportDayFunction", "UploadFunction")
# Variables of config.py that are deliberately not template settings, with the reason (also in README.md).
NOT_DEPLOYED: Final = {
    "FLEXERA_ENDPOINT_URL": "replaces every Flexera host, for the emulators and tests only",
}
_VARIABLE_IN_DESCRIPTION: Final = re.compile(r"^([A-Z][A-Z0-9_]+): ")


class RecordingEnviron(dict[str, str]):
    """An empty environment that remembers every variable a loader asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def variable_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Parameter -> the environment variable its description names."""
    found = {}
    for name, spec in template["Parameters"].items():
        match = _VARIABLE_IN_DESCRIPTION.match(spec["Description"])
        if match:
            found[name] = match.group(1)
    return found


def function_environment(deployment: Deployment, function: str) -> dict[str, str]:
    variables: dict[str, str] = deployment.render(deployment.properties(function)["Environment"]["Variables"])
    return variables


def variables_read_by_the_code() -> set[str]:
    environ = RecordingEnviron()
    with pytest.raises(ConfigurationError):
        load_settings(environ)
    return environ.asked


def distinct_values(template: dict[str, Any]) -> dict[str, str]:
    """A value per parameter that no other parameter has, valid where a condition depends on it."""
    values = {name: f"value-of-{name}" for name in template["Parameters"]}
    values["FlexeraSecretArn"] = Deployment.secret_arn("existing-flexera")
    values["KubecostSecretArn"] = Deployment.secret_arn("existing-kubecost")
    values["SubnetIds"] = "subnet-1,subnet-2"
    values["SecurityGroupIds"] = "sg-1"
    return values


# --- configuration ---


def test_every_parameter_named_after_a_variable_sets_that_variable_in_every_function(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    # Given a deployment where each parameter has a value no other parameter has
    deployment = Deployment(translated, distinct_values(template))
    mapping = variable_parameters(template)

    # When the environment of each function is evaluated
    for function in FUNCTIONS:
        environment = function_environment(deployment, function)

        # Then each such parameter's value is in the variable its description names
        for parameter, variable in mapping.items():
            assert environment.get(variable) == deployment.values[parameter], (function, parameter, variable)


def test_each_variable_is_set_by_one_parameter_only(template: dict[str, Any]) -> None:
    # Given the parameters that name a variable
    variables = list(variable_parameters(template).values())

    # Then no variable is named twice
    assert sorted(variables) == sorted(set(variables))


def test_every_variable_the_code_reads_is_set_by_the_template_or_documented_as_not_deployed(
    translated: dict[str, Any],
) -> None:
    # Given the variables config.py and the plan read (whatever their values)
    read = variables_read_by_the_code()
    deployment = Deployment(translated)

    # When the plan function's environment is evaluated (it loads the whole configuration)
    environment = function_environment(deployment, "PlanFunction")

    # Then each variable is set, or deliberately left to local runs
    assert read - set(NOT_DEPLOYED) <= set(environment)
    assert set(NOT_DEPLOYED) <= read, "a documented exception that the code no longer reads"
    assert not set(NOT_DEPLOYED) & set(environment)


def test_parameter_defaults_are_the_go_exporter_defaults(translated: dict[str, Any]) -> None:
    # Given the environment a deployment with default parameters gives the functions
    deployment = Deployment(translated, {"KubecostHost": "kubecost.example.com:9090", "OrgId": "12345"})
    deployed = function_environment(deployment, "PlanFunction")
    # and the environment with only what has no usable default (kept from the deployed one)
    required = ("KUBECOST_HOST", "ORG_ID", "BILL_CONNECT_ID", "FLEXERA_SECRET_ARN", "BUCKET_NAME")
    minimal = {name: deployed[name] for name in required}

    # When both are loaded by config.py
    # Then they give the same settings: every template default is the code's default
    assert load_settings(deployed) == load_settings(minimal)


def test_created_flexera_secret_is_used_when_no_arn_is_given(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    # Given a deployment without an existing Flexera secret
    deployment = Deployment(translated, {"FlexeraSecretArn": ""})

    # When the functions' environment is evaluated
    arns = {function_environment(deployment, function)["FLEXERA_SECRET_ARN"] for function in FUNCTIONS}

    # Then the stack creates the secret and every function names it
    assert deployment.condition("CreateFlexeraSecret")
    assert arns == {deployment.ref("FlexeraCredentialsSecret")}


def test_created_flexera_secret_holds_a_placeholder_the_upload_rejects_clearly(template: dict[str, Any]) -> None:
    # Given the value the stack stores in a new Flexera secret
    placeholder = json.loads(template["Resources"]["FlexeraCredentialsSecret"]["Properties"]["SecretString"])

    # When the upload parses it as credentials
    # Then it is refused with the shape that is expected
    with pytest.raises(ConfigurationError, match=r"must be a JSON object with either \"refresh_token\""):
        flexera_auth.parse_credentials(placeholder, Deployment.secret_arn("flexera"))


def test_functions_run_python_313_on_arm64_with_tracing_and_powertools(template: dict[str, Any]) -> None:
    # Given the template's Globals
    function_globals = template["Globals"]["Function"]

    # Then every function shares the runtime, tracing and the Powertools settings
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "SharedLayer"}]
    variables = function_globals["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "KubecostFlexeraExporter"
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_its_own_log_group_with_the_retention_parameter(
    translated: dict[str, Any], function: str
) -> None:
    # Given a deployment with a log retention
    deployment = Deployment(translated, {"LogRetentionDays": "90"})

    # When the function's logging configuration is evaluated
    log_group_id = translated["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    # Then it is a log group of this stack with that retention
    log_group = deployment.render(deployment.properties(log_group_id))
    assert log_group["RetentionInDays"] == "90"
    assert log_group["LogGroupName"].startswith(f"/aws/lambda/{deployment.stack}/")


@pytest.mark.parametrize(("subnets", "in_vpc"), [("", False), ("subnet-1,subnet-2", True)])
def test_functions_join_the_vpc_only_when_subnets_are_given(
    translated: dict[str, Any], subnets: str, in_vpc: bool
) -> None:
    # Given a deployment with or without subnets
    deployment = Deployment(translated, {"SubnetIds": subnets, "SecurityGroupIds": "sg-1" if in_vpc else ""})

    # When each function's VPC configuration is evaluated
    for function in FUNCTIONS:
        properties = deployment.render(deployment.properties(function))

        # Then it is there exactly when subnets are
        assert ("VpcConfig" in properties) is in_vpc
        if in_vpc:
            assert properties["VpcConfig"] == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}


# --- build ---


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_builds_without_docker_or_a_local_python_313(template: dict[str, Any], function: str) -> None:
    # Given the function's code directory
    code = ROOT / template["Resources"][function]["Properties"]["CodeUri"]

    # Then it has the handler and no requirements.txt: sam build copies it as is (dependencies are in the layer)
    assert "def lambda_handler(" in (code / "app.py").read_text(encoding="utf-8")
    assert not (code / "requirements.txt").exists()


def test_shared_layer_is_built_by_its_makefile_for_arm64_python_313(template: dict[str, Any]) -> None:
    # Given the layer resource and its Makefile
    layer = template["Resources"]["SharedLayer"]
    content = ROOT / layer["Properties"]["ContentUri"]
    makefile = (content / "Makefile").read_text(encoding="utf-8")

    # Then sam build runs the Makefile target named after the layer, which installs Lambda's wheels with pip
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert re.search(r"^build-SharedLayer:", makefile, re.MULTILINE)
    for option in ("--platform manylinux2014_aarch64", "--python-version 3.13", "--only-binary=:all:"):
        assert option in makefile
    assert (content / "requirements.txt").is_file()
    # And compiles the row formatter for arm64 into the package, in place of any build for this machine
    assert "native/build.py --arch aarch64" in makefile
    assert "python/kubecost_flexera/domain/_cbi_rows.abi3.so" in makefile


# --- bucket ---


def test_bucket_expires_day_files_and_manifests_after_the_retention_and_keeps_upload_state(
    translated: dict[str, Any],
) -> None:
    # Given a deployment with a retention of 120 days
    deployment = Deployment(translated, {"RetentionDays": "120"})

    # When the bucket's lifecycle rules are evaluated
    rules = deployment.render(deployment.properties("ExportsBucket"))["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "ExpirationInDays" in rule}

    # Then exports/ and state/days/ expire after 120 days and nothing else expires (upload state is kept)
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert expiring == {"exports/": "120", "state/days/": "120"}


def test_bucket_aborts_incomplete_multipart_uploads_after_one_day(translated: dict[str, Any]) -> None:
    # Given the bucket's lifecycle rules
    rules = Deployment(translated).render(Deployment(translated).properties("ExportsBucket"))
    aborting = [rule for rule in rules["LifecycleConfiguration"]["Rules"] if "AbortIncompleteMultipartUpload" in rule]

    # Then one rule covers the whole bucket
    assert [(rule["Prefix"], rule["AbortIncompleteMultipartUpload"]) for rule in aborting] == [
        ("", {"DaysAfterInitiation": 1})
    ]


def test_bucket_is_encrypted_private_and_retained(template: dict[str, Any]) -> None:
    # Given the bucket resource
    bucket = template["Resources"]["ExportsBucket"]
    properties = bucket["Properties"]

    # Then objects are encrypted, every public access is blocked, ACLs are off and the data outlives the stack
    encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption] == ["AES256"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_bucket_denies_every_request_without_tls(translated: dict[str, Any]) -> None:
    # Given the bucket policy of a deployment
    deployment = Deployment(translated)
    policy = deployment.render(deployment.properties("ExportsBucketPolicy"))
    bucket_arn = deployment.attribute("ExportsBucket", "Arn")

    # When the statements about transport are picked
    insecure = [
        statement
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]

    # Then they deny every action to everyone on the bucket and its objects
    assert policy["Bucket"] == deployment.ref("ExportsBucket")
    assert len(insecure) == 1
    assert insecure[0]["Effect"] == "Deny"
    assert insecure[0]["Principal"] == "*"
    assert insecure[0]["Action"] == "s3:*"
    assert set(insecure[0]["Resource"]) == {bucket_arn, f"{bucket_arn}/*"}


# --- state machine ---


def definition_placeholders() -> set[str]:
    text = (ROOT / "statemachine" / "export.asl.json").read_text(encoding="utf-8")
    return set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))


def test_definition_placeholders_are_exactly_the_template_substitutions(template: dict[str, Any]) -> None:
    # Given the definition file and the state machine resource
    state_machine = template["Resources"]["ExportStateMachine"]["Properties"]

    # Then the definition uses every substitution and no other placeholder
    assert state_machine["DefinitionUri"] == "statemachine/export.asl.json"
    assert definition_placeholders() == set(state_machine["DefinitionSubstitutions"])


def test_definition_function_references_name_the_matching_functions(template: dict[str, Any]) -> None:
    # Given the substitutions
    substitutions = template["Resources"]["ExportStateMachine"]["Properties"]["DefinitionSubstitutions"]

    # Then each function placeholder is the ARN of the function of the same name, and concurrency is the parameter
    for function in FUNCTIONS:
        assert substitutions[f"{function}Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert substitutions["MaxConcurrency"] == {"Ref": "MaxConcurrency"}
    assert template["Parameters"]["MaxConcurrency"]["Default"] == 8


def test_substituted_definition_is_json_with_the_map_concurrency(translated: dict[str, Any]) -> None:
    # Given a deployment with a concurrency of 3 days and 4 sources
    deployment = Deployment(translated, {"MaxConcurrency": "3", "SourceConcurrency": "4"})
    substitutions = deployment.render(deployment.properties("ExportStateMachine")["DefinitionSubstitutions"])
    text = (ROOT / "statemachine" / "export.asl.json").read_text(encoding="utf-8")

    # When the definition is substituted as Step Functions does
    states = json.loads(deployment.sub(text, substitutions))["States"]

    # Then it is JSON: the Maps over days run at most 3 days at a time (per source with several), 4 sources at once
    sources = states["ExportSources"]
    source_days = sources["ItemProcessor"]["States"]["ExportSourceDays"]
    concurrency = [states["ExportDays"]["MaxConcurrency"], sources["MaxConcurrency"], source_days["MaxConcurrency"]]
    assert concurrency == [3, 4, 3]


def test_state_machine_logs_every_event_and_traces(translated: dict[str, Any]) -> None:
    # Given the translated state machine
    deployment = Deployment(translated)
    properties = deployment.render(deployment.properties("ExportStateMachine"))

    # Then it logs to the stack's vended log group and is traced
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert [destination["CloudWatchLogsLogGroup"]["LogGroupArn"] for destination in logging["Destinations"]] == [
        deployment.attribute("ExportStateMachineLogGroup", "Arn")
    ]
    assert properties["TracingConfiguration"] == {"Enabled": True}


# --- schedule ---


@pytest.mark.parametrize("state", ["ENABLED", "DISABLED"])
def test_schedule_starts_the_state_machine_daily_in_its_time_zone(translated: dict[str, Any], state: str) -> None:
    # Given a deployment with a schedule in Paris time, on or off
    deployment = Deployment(
        translated,
        {"ScheduleExpression": "cron(30 4 * * ? *)", "ScheduleTimezone": "Europe/Paris", "ScheduleState": state},
    )

    # When the schedule is evaluated
    schedule = deployment.render(deployment.properties("DailySchedule"))

    # Then it starts the state machine with an empty request, retries, and is on or off as asked
    assert schedule["ScheduleExpression"] == "cron(30 4 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["State"] == state
    target = schedule["Target"]
    assert target["Arn"] == deployment.ref("ExportStateMachine")
    assert json.loads(target["Input"]) == {}
    assert target["RoleArn"] == deployment.attribute("DailyScheduleRole", "Arn")
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


# --- alarms and dashboard ---


def alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    if "MetricName" in alarm:
        return {(alarm["Namespace"], alarm["MetricName"])}
    return {
        (query["MetricStat"]["Metric"]["Namespace"], query["MetricStat"]["Metric"]["MetricName"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }


def test_failed_timed_out_or_aborted_execution_raises_the_alarm(translated: dict[str, Any]) -> None:
    # Given the failed-execution alarm of a deployment
    deployment = Deployment(translated)
    alarm = deployment.render(deployment.properties("FailedExecutionAlarm"))

    # Then it sums the unsuccessful executions of this state machine and notifies the alarm topic
    assert alarm_metrics(alarm) == {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
    }
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            assert query["MetricStat"]["Metric"]["Dimensions"] == [
                {"Name": "StateMachineArn", "Value": deployment.ref("ExportStateMachine")}
            ]
    assert alarm["AlarmActions"] == [deployment.ref("AlarmTopic")]


def test_no_successful_run_in_36_hours_raises_the_alarm_when_scheduled(translated: dict[str, Any]) -> None:
    # Given the no-success alarm
    deployment = Deployment(translated)
    alarm = deployment.render(deployment.properties("NoSuccessfulRunAlarm"))

    # Then 36 hours without a successful execution (no execution counts as none) alarm, only while scheduled
    assert alarm_metrics(alarm) == {("AWS/States", "ExecutionsSucceeded")}
    assert int(alarm["Period"]) * int(alarm["EvaluationPeriods"]) == 36 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )
    assert translated["Resources"]["NoSuccessfulRunAlarm"]["Condition"] == "ScheduleEnabled"
    assert not Deployment(translated, {"ScheduleState": "DISABLED"}).condition("ScheduleEnabled")


def test_empty_days_in_consecutive_runs_raise_the_alarm(translated: dict[str, Any]) -> None:
    # Given a deployment that alarms after 4 runs with empty days
    deployment = Deployment(translated, {"EmptyDayAlarmRuns": "4"})
    alarm = deployment.render(deployment.properties("EmptyDaysAlarm"))

    # Then it watches this stack's EmptyDays metric over 4 consecutive days
    assert alarm_metrics(alarm) == {("KubecostFlexeraExporter", "EmptyDays")}
    assert alarm["Dimensions"] == [{"Name": "service", "Value": deployment.stack}]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (86400, "4", "4")


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("finops@example.com", True)])
def test_alarm_email_is_subscribed_only_when_given(translated: dict[str, Any], email: str, subscribed: bool) -> None:
    # Given a deployment with or without an alarm e-mail
    deployment = Deployment(translated, {"AlarmEmail": email})

    # Then the subscription exists exactly when an address is given, and sends to it
    condition = translated["Resources"]["AlarmEmailSubscription"]["Condition"]
    assert deployment.condition(condition) is subscribed
    subscription = deployment.render(deployment.properties("AlarmEmailSubscription"))
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", email)


def dashboard_widgets(deployment: Deployment) -> list[dict[str, Any]]:
    widgets: list[dict[str, Any]] = json.loads(deployment.render(deployment.properties("Dashboard"))["DashboardBody"])[
        "widgets"
    ]
    return widgets


def dashboard_metrics(deployment: Deployment) -> Iterator[tuple[str, str]]:
    """The metrics the dashboard names (SEARCH expressions apart)."""
    for widget in dashboard_widgets(deployment):
        namespace = name = ""
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                continue
            # CloudWatch's shorthand: "." repeats the previous row's value, "..." all the leading ones.
            if row[0] != "...":
                namespace = namespace if row[0] == "." else row[0]
                name = name if row[1] == "." else row[1]
            yield namespace, name


def test_dashboard_shows_executions_and_every_agreed_custom_metric(translated: dict[str, Any]) -> None:
    # Given the dashboard of a deployment
    shown = set(dashboard_metrics(Deployment(translated)))

    # Then it shows the executions, their duration and exactly the agreed custom metrics
    assert {("AWS/States", name) for name in ("ExecutionsFailed", "ExecutionsSucceeded", "ExecutionTime")} <= shown
    assert {name for namespace, name in shown if namespace == "KubecostFlexeraExporter"} == CUSTOM_METRICS


def test_custom_metrics_are_read_for_this_stack_only(translated: dict[str, Any]) -> None:
    # Given the dashboard body as CloudFormation renders it
    deployment = Deployment(translated)
    body = json.loads(deployment.render(deployment.properties("Dashboard"))["DashboardBody"])
    custom_rows = [
        row
        for widget in body["widgets"]
        for row in widget["properties"]["metrics"]
        if row[0] == "KubecostFlexeraExporter"
    ]

    # Then each custom metric is filtered on the Powertools service of this stack
    assert custom_rows
    assert all(row[2:4] == ["service", deployment.stack] for row in custom_rows)


_SEARCH: Final = re.compile(
    r"SEARCH\('\{(?P<namespace>[^,]+),(?P<dimension>[^,]+),service\} "
    r'MetricName="(?P<name>\w+)" service="(?P<service>[^"]+)"\', \'Sum\', 86400\)'
)


def searched_metrics(deployment: Deployment) -> dict[str, set[tuple[str, str]]]:
    """Per dimension (Source, BillConnect): the (namespace, metric) its SEARCH expressions find, each checked to be
    this stack's service and labelled with the dimension's value."""
    found: dict[str, set[tuple[str, str]]] = {}
    for widget in dashboard_widgets(deployment):
        for row in widget["properties"]["metrics"]:
            if not isinstance(row[0], dict):
                continue
            match = _SEARCH.fullmatch(row[0]["expression"])
            assert match, row[0]["expression"]
            assert match["service"] == deployment.stack
            assert f"${{PROP('Dim.{match['dimension']}')}}" in row[0]["label"]
            found.setdefault(match["dimension"], set()).add((match["namespace"], match["name"]))
    return found


def test_dashboard_shows_each_sources_days_and_each_bill_connects_months(translated: dict[str, Any]) -> None:
    # Given the dashboard of a deployment
    searched = searched_metrics(Deployment(translated))

    # Then SEARCH expressions show, per source, its exported and failed days, rows and cost, and per bill connect its
    # upload results, for this stack only
    assert searched == {
        "Source": {("KubecostFlexeraExporter", name) for name in SOURCE_METRICS},
        "BillConnect": {("KubecostFlexeraExporter", name) for name in BILL_CONNECT_METRICS},
    }


def test_dashboard_widgets_do_not_overlap(translated: dict[str, Any]) -> None:
    # Given the dashboard's widgets on CloudWatch's 24-column grid
    cells = [
        (widget["x"] + column, widget["y"] + line)
        for widget in dashboard_widgets(Deployment(translated))
        for column in range(widget["width"])
        for line in range(widget["height"])
    ]

    # Then no two widgets share a cell, and none leaves the grid
    assert len(cells) == len(set(cells))
    assert all(column < 24 for column, _ in cells)  # CloudWatch's grid is 24 columns wide


# --- outputs ---


def test_outputs_tell_how_to_store_credentials_and_run_manually(translated: dict[str, Any]) -> None:
    # Given the outputs of a deployment that creates the Flexera secret
    deployment = Deployment(translated)
    outputs = {name: deployment.render(output["Value"]) for name, output in translated["Outputs"].items()}
    state_machine = deployment.ref("ExportStateMachine")
    secret = deployment.ref("FlexeraCredentialsSecret")

    # Then they name the bucket, the workflow and the secret, and give the commands with those values
    assert outputs["ExportsBucketName"] == deployment.ref("ExportsBucket")
    assert outputs["StateMachineArn"] == state_machine
    assert outputs["FlexeraCredentialsSecretArn"] == secret
    assert outputs["PutFlexeraCredentialsCommand"].startswith("aws secretsmanager put-secret-value ")
    assert f"--secret-id {secret} " in outputs["PutFlexeraCredentialsCommand"]
    assert outputs["StartExecutionCommand"].startswith("aws stepfunctions start-execution ")
    assert f"--state-machine-arn {state_machine} " in outputs["StartExecutionCommand"]
    assert outputs["StartExecutionCommand"].endswith("--input '{}'")


def test_outputs_tell_how_to_put_the_sources_document_only_when_one_is_configured(translated: dict[str, Any]) -> None:
    # Given a deployment with a sources document key, and one without
    deployment = Deployment(translated, {"SourcesDocumentKey": "config/sources.json"})
    output = translated["Outputs"]["PutSourcesDocumentCommand"]

    # Then the command copies the document to that key of the exports bucket, and only exists with a key
    command = deployment.render(output["Value"])
    assert command.startswith("aws s3 cp sources.json ")
    assert f" s3://{deployment.ref('ExportsBucket')}/config/sources.json " in command
    assert deployment.condition(output["Condition"])
    assert not Deployment(translated).condition(output["Condition"])


# --- parameter constraints accept what the Go exporter (and config.py) accepts ---

# Base URLs: with or without scheme, a trailing slash; refused: a path (its prefix belongs in the API path setting),
# another scheme, credentials, a query, a malformed port.
_HOSTS: Final = [
    "kubecost.example.com:9090",
    "https://kubecost.example.com",
    "http://10.0.1.20:9090",
    "https://kubecost.example.com/",
    "http://kubecost:9090/model",
    "kubecost:9090/kubecost/",
    "ftp://kubecost",
    "http://user:pw@kubecost",
    "http://kubecost?x=1",
    "kubecost:port",
]
_SAMPLES: Final = {
    "Idle": [
        "true",
        "True",
        "TRUE",
        "t",
        "T",
        "1",
        "false",
        "False",
        "FALSE",
        "f",
        "F",
        "0",
        "yes",
        "on",
        " true",
        "tRUE",
    ],
    "Aggregation": ["pod", "POD", "Pod", "namespace", "NameSpace", "controller", "NODE", "daily", "pods", " pod"],
    "Multiplier": ["1.0", "0.85", ".85", "1e3", "1.", "8.5E-1", "+1", "-0.5", "1_000", " 0.85", ".", "abc", "0x1p-2"],
    "DefaultCurrency": ["USD", "usd", "Eur", " EUR ", "dollars", "US", "U$D"],
    "KubecostHost": _HOSTS,
    "KubecostConfigHost": ["", *_HOSTS],
}
_REQUIRED_ENV: Final = {
    "KUBECOST_HOST": "kubecost.example.com:9090",
    "ORG_ID": "12345",
    "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
    "FLEXERA_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf",
    "BUCKET_NAME": "kubecost-exports",
}


def template_accepts(spec: dict[str, Any], value: str) -> bool:
    """CloudFormation's check: one of AllowedValues, or the whole value matching AllowedPattern."""
    if "AllowedValues" in spec:
        return value in spec["AllowedValues"]
    return re.fullmatch(spec["AllowedPattern"], value) is not None


def config_accepts(variable: str, value: str) -> bool:
    """True when the whole configuration loads with ``variable=value``; a refusal must name that variable."""
    try:
        load_settings({**_REQUIRED_ENV, variable: value})
    except ConfigurationError as exc:
        return f"{variable}=" not in str(exc)
    return True


@pytest.mark.parametrize("parameter", sorted(_SAMPLES))
def test_parameter_accepts_exactly_the_values_the_functions_accept(template: dict[str, Any], parameter: str) -> None:
    # Given a parameter and values the Go exporter accepts (True, POD, .85, ...) or refuses
    variable = variable_parameters(template)[parameter]
    spec = template["Parameters"][parameter]
    # Then the template lets through exactly what config.py accepts, so a deployment never fails at run time on it
    verdicts = {
        value: (template_accepts(spec, value), config_accepts(variable, value)) for value in _SAMPLES[parameter]
    }
    assert {value: t for value, (t, _) in verdicts.items()} == {value: c for value, (_, c) in verdicts.items()}


def test_every_boolean_parameter_allows_go_parse_bool_spellings(template: dict[str, Any]) -> None:
    go_spellings = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
    booleans = [spec for spec in template["Parameters"].values() if "true" in spec.get("AllowedValues", [])]
    assert len(booleans) == 7
    assert all(set(spec["AllowedValues"]) == go_spellings for spec in booleans)


# --- several clusters: what the sources parameters let through ---

_SOURCES_PARAMETER_SAMPLES: Final = {
    "SourcesDocumentKey": (
        ["", "config/sources.json", "sources.json", "kubecost/prod-eu/sources_v2.json"],
        [
            "exports/sources.json",  # expired by the bucket's lifecycle, written by the export function
            "state/sources.json",  # upload state and manifests live there
            "config/*.json",  # a wildcard would widen the plan's GetObject grant
            "config/sources?.json",
            "config/${aws:username}.json",  # a policy variable
            "/config/sources.json",
            "config//sources.json",
            "config/",
            "config/sources json",
            "c" * 41,  # over Lambda's 4 KB environment at every parameter's longest value
        ],
    ),
    "KubecostSecretPrefix": (
        ["", "kubecost-flexera/prod/", "kubecost", "team+a=b.c@d_e-"],
        ["kubecost/*", "kubecost?", "kubecost prod/", "kubecost/${aws:username}", "k" * 33],
    ),
}


@pytest.mark.parametrize("parameter", sorted(_SOURCES_PARAMETER_SAMPLES))
def test_sources_parameters_accept_safe_keys_and_prefixes_only(template: dict[str, Any], parameter: str) -> None:
    # Given a sources parameter and values that are fine or would widen a grant, collide or not fit
    spec = template["Parameters"][parameter]
    accepted, refused = _SOURCES_PARAMETER_SAMPLES[parameter]

    def fits(value: str) -> bool:
        return template_accepts(spec, value) and len(value) <= int(spec["MaxLength"])

    # Then CloudFormation lets through exactly the first ones
    assert {value: fits(value) for value in accepted + refused} == {
        **dict.fromkeys(accepted, True),
        **dict.fromkeys(refused, False),
    }


@pytest.mark.parametrize("parameter", sorted(_SOURCES_PARAMETER_SAMPLES))
def test_every_sources_parameter_value_the_template_accepts_the_functions_accept(
    template: dict[str, Any], parameter: str
) -> None:
    # Given the values the template lets through (it is stricter than config.py: no wildcard in a grant)
    variable = variable_parameters(template)[parameter]
    accepted, _ = _SOURCES_PARAMETER_SAMPLES[parameter]
    # Then the functions accept each of them: a deployment never fails at run time on it
    assert {value: config_accepts(variable, value) for value in accepted} == dict.fromkeys(accepted, True)
