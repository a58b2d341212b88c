"""Configuration from the environment: the Go exporter's names and defaults, validated up front (defect GO-D20)."""

from __future__ import annotations

import pytest

from kubecost_flexera.config import (
    FlexeraSettings,
    KubecostSettings,
    PlanSettings,
    StorageSettings,
    load_flexera,
    load_kubecost,
    load_settings,
    load_storage,
)
from kubecost_flexera.errors import ConfigurationError

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf"
FLEXERA_REQUIRED = {"ORG_ID": "12345", "BILL_CONNECT_ID": "cbi-oi-kubecost-1", "FLEXERA_SECRET_ARN": SECRET_ARN}
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
BOOLEAN_ALLOWED = "allowed true or false (also 1/0, t/f, TRUE/FALSE, True/False)"
KUBECOST_BOOLEANS = {
    "IDLE": "idle",
    "IDLE_BY_NODE": "idle_by_node",
    "SHARE_IDLE": "share_idle",
    "SHARE_TENANCY_COSTS": "share_tenancy_costs",
    "OVERRIDE_POD_LABELS": "override_pod_labels",
}


def kubecost_error(**env: str) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load_kubecost(env)
    return str(raised.value)


# --- defaults ---


def test_kubecost_defaults_are_the_go_exporters() -> None:
    assert load_kubecost({}) == KubecostSettings(
        base_url="https://localhost:9090",
        api_path="/model/",
        config_base_url="https://localhost:9090",
        config_api_path="/model/",
        cost_source="kubecost",
        aggregation="pod",
        idle=True,
        idle_by_node=False,
        share_idle=False,
        share_namespaces="kube-system,cadvisor",
        share_tenancy_costs=True,
        multiplier=1.0,
        page_size=500,
        max_file_rows=1_000_000,
        default_currency="USD",
        override_pod_labels=True,
        request_timeout_seconds=300.0,
        secret_arn=None,
        ca_bundle=None,
    )


def test_empty_values_count_as_unset_as_the_helm_chart_sets_every_variable() -> None:
    names = ["KUBECOST_HOST", "KUBECOST_API_PATH", "AGGREGATION", "IDLE", "MULTIPLIER", "PAGE_SIZE", "REQUEST_TIMEOUT"]
    assert load_kubecost(dict.fromkeys(names, "")) == load_kubecost({})


def test_default_aggregate_chain_is_the_pod_chain() -> None:
    assert load_kubecost({}).aggregate_chain == "cluster,namespace,controllerKind,controller,node,pod"


def test_flexera_defaults_are_the_go_exporters() -> None:
    assert load_flexera(FLEXERA_REQUIRED) == FlexeraSettings(
        org_id="12345",
        bill_connect_id="cbi-oi-kubecost-1",
        shard="NAM",
        create_bill_connect=False,
        vendor_name="Kubecost",
        secret_arn=SECRET_ARN,
        endpoint_url=None,
        request_timeout_seconds=300.0,
    )


def test_storage_source_defaults_to_default() -> None:
    assert load_storage({"BUCKET_NAME": "exports-bucket"}) == StorageSettings(bucket="exports-bucket", source="default")


def plan_settings(**environ: str) -> PlanSettings:
    """The plan section of the whole configuration, the only place the plan's settings are loaded."""
    return load_settings({**FLEXERA_REQUIRED, "BUCKET_NAME": "exports-bucket", **environ}).plan


def test_plan_includes_the_previous_month_and_refreshes_every_day_by_default() -> None:
    assert plan_settings() == PlanSettings(include_previous_month=True, refresh_days=None, month_close_refresh_day=3)


def test_refresh_window_settings_are_read() -> None:
    assert plan_settings(REFRESH_DAYS="3", MONTH_CLOSE_REFRESH_DAY="5") == PlanSettings(
        include_previous_month=True, refresh_days=3, month_close_refresh_day=5
    )
    assert plan_settings(REFRESH_DAYS="62", MONTH_CLOSE_REFRESH_DAY="28").refresh_days == 62


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("REFRESH_DAYS", "0", "an integer from 1 to 62, or empty for every day of the window"),
        ("REFRESH_DAYS", "63", "an integer from 1 to 62"),
        ("REFRESH_DAYS", "three", "an integer from 1 to 62"),
        ("REFRESH_DAYS", "-1", "an integer from 1 to 62"),
        ("MONTH_CLOSE_REFRESH_DAY", "0", "an integer from 1 to 28"),
        ("MONTH_CLOSE_REFRESH_DAY", "29", "an integer from 1 to 28"),
    ],
)
def test_invalid_refresh_window_setting_is_refused_naming_it(name: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name}='{value}' is invalid: allowed {allowed}"):
        plan_settings(**{name: value})


# --- values that parse ---


@pytest.mark.parametrize("value", GO_TRUE)
@pytest.mark.parametrize("name", sorted(KUBECOST_BOOLEANS))
def test_go_true_spellings_are_true(name: str, value: str) -> None:
    # The defaults of the true-by-default variables are turned off, so that only the parsed value can make it true.
    settings = load_kubecost(
        {"IDLE": "false", "SHARE_TENANCY_COSTS": "false", "OVERRIDE_POD_LABELS": "false", name: value}
    )
    assert getattr(settings, KUBECOST_BOOLEANS[name]) is True


@pytest.mark.parametrize("value", GO_FALSE)
@pytest.mark.parametrize("name", sorted(KUBECOST_BOOLEANS))
def test_go_false_spellings_are_false(name: str, value: str) -> None:
    # The false-by-default variables are turned on, so that only the parsed value can make it false.
    settings = load_kubecost({"IDLE_BY_NODE": "true", "SHARE_IDLE": "true", name: value})
    assert getattr(settings, KUBECOST_BOOLEANS[name]) is False


# --- values as the Go exporter's caarlos0/env v11 and strconv read them ---


def test_values_are_not_trimmed_so_a_blank_share_namespaces_shares_nothing() -> None:
    # Given SHARE_NAMESPACES set to a blank, which is not empty to Go's env: the reference sends it, sharing nothing
    settings = load_kubecost({"SHARE_NAMESPACES": " "})
    # Then it is kept as given, not replaced by the default list
    assert settings.share_namespaces == " "


@pytest.mark.parametrize("value", [" true", "true ", "yes", "on", "TRUE\n", "tRUE"])
def test_booleans_outside_go_parse_bool_are_refused(value: str) -> None:
    assert f"IDLE={value!r} is invalid" in kubecost_error(IDLE=value)


@pytest.mark.parametrize("value", ["1_000", " 500", "500 ", "\u0665\u0660\u0660", "0x1f4", "5e2", "500\n"])
def test_integers_outside_go_parse_int_are_refused(value: str) -> None:
    assert f"PAGE_SIZE={value!r} is invalid" in kubecost_error(PAGE_SIZE=value)


@pytest.mark.parametrize(("value", "number"), [("+500", 500), ("0500", 500)])
def test_integers_go_parse_int_accepts_are_read(value: str, number: int) -> None:
    assert load_kubecost({"PAGE_SIZE": value}).page_size == number


@pytest.mark.parametrize(
    ("value", "number"), [(".85", 0.85), ("1e3", 1000.0), ("1.", 1.0), ("+0.5", 0.5), ("-1", -1.0), ("8.5E-1", 0.85)]
)
def test_multipliers_go_parse_float_accepts_are_read(value: str, number: float) -> None:
    assert load_kubecost({"MULTIPLIER": value}).multiplier == number


@pytest.mark.parametrize("value", ["1_000", " 0.85", "0.85 ", "\u0661.5", ".", "e3", "0x1p-2", "1e400"])
def test_multipliers_outside_go_parse_float_or_not_finite_are_refused(value: str) -> None:
    assert f"MULTIPLIER={value!r} is invalid" in kubecost_error(MULTIPLIER=value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORG_ID", "12345\n"),
        ("ORG_ID", " 12345"),
        ("FLEXERA_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf\n"),
        ("BUCKET_NAME", "kubecost-exports\n"),
    ],
)
def test_untrimmed_values_must_match_their_pattern_whole(name: str, value: str) -> None:
    # A value with a trailing newline or a leading blank would end up in URLs and requests as given
    environ = {**FLEXERA_REQUIRED, "BUCKET_NAME": "kubecost-exports", name: value}
    with pytest.raises(ConfigurationError, match=f"{name}="):
        load_settings({"KUBECOST_HOST": "kubecost.example.com:9090", **environ})


@pytest.mark.parametrize(("value", "code"), [("usd", "USD"), (" eur ", "EUR"), ("Chf", "CHF")])
def test_default_currency_is_normalised_like_kubecosts(value: str, code: str) -> None:
    assert load_kubecost({"DEFAULT_CURRENCY": value}).default_currency == code


def test_flexera_and_plan_booleans_use_go_spellings() -> None:
    assert load_flexera({**FLEXERA_REQUIRED, "CREATE_BILL_CONNECT_IF_NOT_EXIST": "T"}).create_bill_connect is True
    assert plan_settings(INCLUDE_PREVIOUS_MONTH="0").include_previous_month is False


@pytest.mark.parametrize(
    ("value", "chain"),
    [
        ("NAMESPACE", "cluster,namespace"),
        ("Controller", "cluster,namespace,controllerKind,controller"),
        ("node", "cluster,namespace,controllerKind,controller,node"),
    ],
)
def test_aggregation_is_case_insensitive_and_selects_its_chain(value: str, chain: str) -> None:
    settings = load_kubecost({"AGGREGATION": value})
    assert settings.aggregation == value.lower()
    assert settings.aggregate_chain == chain


def test_cost_source_is_case_insensitive() -> None:
    assert load_kubecost({"COST_SOURCE": "OpenCost"}).cost_source == "opencost"


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        (
            "kubecost-cost-analyzer.kubecost.svc.cluster.local:9090",
            "https://kubecost-cost-analyzer.kubecost.svc.cluster.local:9090",
        ),
        ("https://kubecost.example.com", "https://kubecost.example.com"),
        ("https://kubecost.example.com:8443/", "https://kubecost.example.com:8443"),
        ("http://10.0.0.5:9003", "http://10.0.0.5:9003"),
    ],
)
def test_kubecost_host_with_or_without_scheme(host: str, base_url: str) -> None:
    assert load_kubecost({"KUBECOST_HOST": host}).base_url == base_url


def test_config_host_and_path_are_separate_when_given() -> None:
    settings = load_kubecost(
        {
            "KUBECOST_HOST": "a:9090",
            "KUBECOST_API_PATH": "/",
            "KUBECOST_CONFIG_HOST": "b:9090",
            "KUBECOST_CONFIG_API_PATH": "/model/",
        }
    )
    assert (settings.base_url, settings.api_path) == ("https://a:9090", "/")
    assert (settings.config_base_url, settings.config_api_path) == ("https://b:9090", "/model/")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (  # the API path written into the host as well: every request would go to /model/model/...
            {"KUBECOST_HOST": "http://kubecost:9090/model"},
            "KUBECOST_HOST='http://kubecost:9090/model' is invalid: allowed scheme://host[:port] without a path, "
            "since the path prefix is KUBECOST_API_PATH (now '/model/'): use 'http://kubecost:9090' and "
            "KUBECOST_API_PATH='/model/'",
        ),
        (  # an ingress prefix: it goes before the API path
            {"KUBECOST_HOST": "https://ingress.example.com/kubecost/"},
            "use 'https://ingress.example.com' and KUBECOST_API_PATH='/kubecost/model/'",
        ),
        (  # OpenCost at / behind a prefix
            {"KUBECOST_HOST": "opencost:9003/oc", "KUBECOST_API_PATH": "/"},
            "since the path prefix is KUBECOST_API_PATH (now '/'): use 'https://opencost:9003' and "
            "KUBECOST_API_PATH='/oc/'",
        ),
        (
            {"KUBECOST_HOST": "a:9090", "KUBECOST_CONFIG_HOST": "http://b:9090/model/"},
            "KUBECOST_CONFIG_HOST='http://b:9090/model/' is invalid: allowed scheme://host[:port] without a path, "
            "since the path prefix is KUBECOST_CONFIG_API_PATH (now '/model/'): use 'http://b:9090' and "
            "KUBECOST_CONFIG_API_PATH='/model/'",
        ),
    ],
)
def test_a_path_in_a_kubecost_host_is_refused_naming_the_path_variable_to_use(
    env: dict[str, str], expected: str
) -> None:
    assert expected in kubecost_error(**env)


def test_config_path_falls_back_to_the_api_path() -> None:
    assert load_kubecost({"KUBECOST_API_PATH": "/"}).config_api_path == "/"


def test_numbers_parse() -> None:
    settings = load_kubecost(
        {
            "MULTIPLIER": "0.85",
            "PAGE_SIZE": "1000",
            "MAX_FILE_ROWS": "20",
            "REQUEST_TIMEOUT": "15",
            "DEFAULT_CURRENCY": "EUR",
        }
    )
    assert (settings.multiplier, settings.page_size, settings.max_file_rows) == (0.85, 1000, 20)
    assert settings.request_timeout_seconds == 900.0
    assert settings.default_currency == "EUR"


def test_secret_arn_and_ca_bundle_are_kept() -> None:
    settings = load_kubecost({"KUBECOST_SECRET_ARN": SECRET_ARN, "KUBECOST_CA_BUNDLE": "/opt/ca.pem"})
    assert (settings.secret_arn, settings.ca_bundle) == (SECRET_ARN, "/opt/ca.pem")


@pytest.mark.parametrize("shard", ["NAM", "EU", "AU", "DEV"])
def test_every_shard_is_accepted(shard: str) -> None:
    assert load_flexera({**FLEXERA_REQUIRED, "SHARD": shard}).shard == shard


def test_flexera_endpoint_url_is_normalised() -> None:
    settings = load_flexera({**FLEXERA_REQUIRED, "FLEXERA_ENDPOINT_URL": "http://127.0.0.1:8080/"})
    assert settings.endpoint_url == "http://127.0.0.1:8080"


# --- each invalid value names the variable, the value and what is allowed ---


@pytest.mark.parametrize("value", ["yes", "on", "TRue", "2"])
@pytest.mark.parametrize("name", sorted(KUBECOST_BOOLEANS))
def test_invalid_boolean_names_variable_value_and_spellings(name: str, value: str) -> None:
    assert f"{name}={value!r} is invalid: {BOOLEAN_ALLOWED}" in kubecost_error(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("AGGREGATION", "daily", "allowed namespace, controller, node, pod"),
        ("COST_SOURCE", "prometheus", "allowed kubecost, opencost"),
        ("MULTIPLIER", "abc", "allowed a finite decimal number such as 1.0, 0.85, .85 or 1e3"),
        ("MULTIPLIER", "nan", "allowed a finite decimal number such as 1.0, 0.85, .85 or 1e3"),
        ("MULTIPLIER", "inf", "allowed a finite decimal number such as 1.0, 0.85, .85 or 1e3"),
        ("PAGE_SIZE", "0", "allowed an integer from 1 to 100000 (digits 0-9)"),
        ("PAGE_SIZE", "-5", "allowed an integer from 1 to 100000 (digits 0-9)"),
        ("PAGE_SIZE", "500.0", "allowed an integer from 1 to 100000 (digits 0-9)"),
        ("MAX_FILE_ROWS", "0", "allowed an integer from 1 to 100000000 (digits 0-9)"),
        ("REQUEST_TIMEOUT", "0", "allowed an integer from 1 to 15 (digits 0-9)"),
        ("REQUEST_TIMEOUT", "16", "allowed an integer from 1 to 15 (digits 0-9)"),
        ("DEFAULT_CURRENCY", "dollars", "allowed an ISO 4217 code such as USD (three letters)"),
        ("KUBECOST_SECRET_ARN", "my-secret", "allowed a Secrets Manager secret ARN"),
    ],
)
def test_invalid_kubecost_value_names_variable_value_and_what_is_allowed(name: str, value: str, allowed: str) -> None:
    assert f"{name}={value!r} is invalid: {allowed}" in kubecost_error(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("KUBECOST_HOST", "ftp://kubecost", "allowed schemes are http and https"),
        ("KUBECOST_HOST", "http://user:pw@kubecost", "no credentials, query or fragment"),
        ("KUBECOST_HOST", "http://kubecost?x=1", "no credentials, query or fragment"),
        ("KUBECOST_HOST", "kubecost:port", "the port must be a number from 1 to 65535"),
        ("KUBECOST_CONFIG_HOST", "https://", "no credentials, query or fragment"),
    ],
)
def test_invalid_url_names_variable_value_and_what_is_allowed(name: str, value: str, allowed: str) -> None:
    message = kubecost_error(**{name: value})
    assert f"{name}={value!r} is invalid: " in message
    assert allowed in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHARD": "eu"}, "SHARD='eu' is invalid: allowed NAM, EU, AU, DEV"),
        ({"ORG_ID": "org-1"}, "ORG_ID='org-1' is invalid: allowed the numeric Flexera organization id"),
        ({"ORG_ID": ""}, "ORG_ID is required: the numeric Flexera organization id"),
        ({"BILL_CONNECT_ID": ""}, "BILL_CONNECT_ID is required"),
        ({"FLEXERA_SECRET_ARN": ""}, "FLEXERA_SECRET_ARN is required: the ARN of the Secrets Manager secret"),
        (
            {"FLEXERA_ENDPOINT_URL": "localhost:8080"},
            "FLEXERA_ENDPOINT_URL='localhost:8080' is invalid: allowed an absolute URL",
        ),
        (
            {"CREATE_BILL_CONNECT_IF_NOT_EXIST": "maybe"},
            f"CREATE_BILL_CONNECT_IF_NOT_EXIST='maybe' is invalid: {BOOLEAN_ALLOWED}",
        ),
        (
            {"CREATE_BILL_CONNECT_IF_NOT_EXIST": "true", "BILL_CONNECT_ID": "aws-123"},
            "BILL_CONNECT_ID='aws-123' is invalid: with CREATE_BILL_CONNECT_IF_NOT_EXIST=true it must start with "
            "'cbi-oi-kubecost'",
        ),
    ],
)
def test_invalid_flexera_value_names_variable_value_and_what_is_allowed(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_flexera({**FLEXERA_REQUIRED, **env})
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "BUCKET_NAME is required: an S3 bucket name"),
        ({"BUCKET_NAME": "My_Bucket"}, "BUCKET_NAME='My_Bucket' is invalid: allowed an S3 bucket name"),
        (
            {"BUCKET_NAME": "exports", "SOURCE_NAME": "Prod!"},
            "SOURCE_NAME='Prod!' is invalid: allowed lower-case letters, digits and '-'",
        ),
    ],
)
def test_invalid_storage_value_names_variable_value_and_what_is_allowed(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_storage(env)
    assert expected in str(raised.value)


def test_invalid_plan_boolean_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="INCLUDE_PREVIOUS_MONTH='sometimes' is invalid"):
        plan_settings(INCLUDE_PREVIOUS_MONTH="sometimes")


# --- every problem at once ---


def test_one_error_lists_every_problem_of_the_kubecost_section() -> None:
    message = kubecost_error(AGGREGATION="daily", IDLE="yes", PAGE_SIZE="0", MULTIPLIER="x", KUBECOST_HOST="ftp://h")
    for name in ("AGGREGATION", "IDLE", "PAGE_SIZE", "MULTIPLIER", "KUBECOST_HOST"):
        assert f"{name}=" in message


def test_whole_configuration_error_lists_problems_of_every_section() -> None:
    env = {"AGGREGATION": "daily", "SHARD": "eu", "BUCKET_NAME": "", "INCLUDE_PREVIOUS_MONTH": "x", "ORG_ID": ""}
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert message.startswith("Invalid exporter configuration: ")
    for expected in (
        "AGGREGATION='daily'",
        "SHARD='eu'",
        "BUCKET_NAME is required",
        "INCLUDE_PREVIOUS_MONTH='x'",
        "ORG_ID is required",
        "BILL_CONNECT_ID is required",
        "FLEXERA_SECRET_ARN is required",
    ):
        assert expected in message
