"""The Flexera emulator's pure parts: configuration and fault validation, clocks, id splitting, command line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulators.flexera import (
    DEFAULT_CLIENT_ID,
    DEFAULT_REFRESH_TOKEN,
    FlexeraEmulatorConfig,
    FlexeraFault,
    ManualClock,
    WallClock,
    split_bill_connect_id,
)
from emulators.flexera.__main__ import config_from_args

START = datetime(2025, 7, 31, 23, 59, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"org_id": "acme"}, "org_id must be the numeric"),
        ({"token_lifetime_seconds": 0}, "token_lifetime_seconds must be at least 1"),
        ({"max_files": 0}, "max_files must be at least 1"),
        ({"max_file_bytes": 0}, "max_file_bytes must be at least 1"),
        ({"cooloff_seconds": -1}, "cooloff_seconds must not be negative"),
        ({"start_time": datetime(2025, 7, 1)}, "timezone-aware"),  # a naive time is the point
        ({"bill_connects": frozenset({"kubecost-1"})}, "integration id"),
    ],
)
def test_config_refuses_impossible_settings(fields: dict[str, object], message: str) -> None:
    # Given / When / Then: a setting Flexera could not have is refused at construction
    with pytest.raises(ValueError, match=message):
        FlexeraEmulatorConfig(**fields)  # type: ignore[arg-type]


def test_config_defaults_are_flexeras_limits() -> None:
    # Given / When the default configuration
    config = FlexeraEmulatorConfig()

    # Then it has Flexera's documented limits and the exporter's example bill connect
    assert (config.max_files, config.max_file_bytes, config.cooloff_seconds, config.token_lifetime_seconds) == (
        500,
        1000 * 1024 * 1024,
        120,
        3600,
    )
    assert config.bill_connects == frozenset({"cbi-oi-kubecost-1"})


@pytest.mark.parametrize(
    ("bill_connect_id", "expected"),
    [
        ("cbi-oi-kubecost-1", ("cbi-oi-kubecost", "1")),
        ("cbi-oi-optima-test-1", ("cbi-oi-optima", "test-1")),
        ("cbi-oi-azure-china-x", ("cbi-oi-azure-china", "x")),
    ],
)
def test_split_bill_connect_id_at_the_documented_integration_id(
    bill_connect_id: str, expected: tuple[str, str]
) -> None:
    # Given / When / Then: the id splits into its documented integration id and bill identifier
    assert split_bill_connect_id(bill_connect_id) == expected


@pytest.mark.parametrize("bill_connect_id", ["cbi-oi-kubecost", "cbi-oi-kubecost-", "cbi-oi-kubecost-a b", "aws-1"])
def test_split_bill_connect_id_refuses_ids_that_break_the_rule(bill_connect_id: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="integration id"):
        split_bill_connect_id(bill_connect_id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"endpoint": "create", "kind": "wrong_md5"}, "file endpoint"),
        ({"endpoint": "upload", "kind": "http_500"}, "unknown endpoint"),
        ({"endpoint": "file", "kind": "http_504"}, "unknown fault kind"),
        ({"endpoint": "file", "kind": "http_500", "on_call": 0}, "at least 1"),
        ({"endpoint": "file", "kind": "http_500", "times": 0}, "at least 1"),
    ],
)
def test_fault_refuses_what_cannot_fire(fields: dict[str, object], message: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match=message):
        FlexeraFault(**fields)  # type: ignore[arg-type]


def test_manual_clock_moves_only_when_advanced() -> None:
    # Given a manual clock
    clock = ManualClock(START)

    # When it is read, advanced, and read again
    before = clock.now()
    clock.advance(90.5)

    # Then it stood still until advanced
    assert before == START
    assert (clock.now() - START).total_seconds() == 90.5


def test_clock_never_goes_back() -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="never goes back"):
        ManualClock(START).advance(-1)


def test_wall_clock_adds_advances_to_real_time() -> None:
    # Given a wall clock
    clock = WallClock(START)

    # When it is advanced by an hour
    clock.advance(3600)

    # Then it is at least an hour past the start, and not much more (real time moved a little)
    elapsed = (clock.now() - START).total_seconds()
    assert 3600 <= elapsed < 3660


def test_command_line_builds_the_config() -> None:
    # Given the documented options
    argv = [
        "--port", "8081", "--org-id", "777", "--refresh-token", "r1", "--refresh-token", "r2",
        "--client", "id-1:s:1", "--bill-connect", "cbi-oi-kubecost-9", "--cooloff", "5",
        "--max-files", "3", "--max-file-bytes", "1024", "--token-lifetime", "60",
    ]  # fmt: skip

    # When they are parsed
    config, port = config_from_args(argv)

    # Then each lands in its field; secrets may contain colons; the clock follows real time
    assert port == 8081
    assert config == FlexeraEmulatorConfig(
        org_id="777",
        refresh_tokens=frozenset({"r1", "r2"}),
        clients={"id-1": "s:1"},
        token_lifetime_seconds=60,
        max_file_bytes=1024,
        max_files=3,
        cooloff_seconds=5,
        bill_connects=frozenset({"cbi-oi-kubecost-9"}),
        wall_clock=True,
    )


def test_command_line_defaults_to_the_emulators_credentials() -> None:
    # Given no option / When parsed
    config, port = config_from_args([])

    # Then the default credentials and a free port are used
    assert (port, DEFAULT_REFRESH_TOKEN in config.refresh_tokens, DEFAULT_CLIENT_ID in config.clients) == (
        0,
        True,
        True,
    )


@pytest.mark.parametrize("argv", [["--client", "no-secret"], ["--org-id", "acme"], ["--bill-connect", "x"]])
def test_command_line_refuses_bad_options(argv: list[str]) -> None:
    # Given / When / Then: argparse exits with a usage error
    with pytest.raises(SystemExit):
        config_from_args(argv)
