"""The cost model's memory sizing (``benchmarks/cost_model.py``): how a measured duration becomes Lambda time at a
memory size, which size it picks, and that ``template.yaml`` has the sizes ``docs/cost.md`` chose."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from benchmarks.cost_model import (
    DOC,
    FUNCTIONS,
    ONE_VCPU_MB,
    DayFigures,
    Model,
    Prices,
    RunFigures,
    Sizing,
    average_days_per_run,
    chosen_memory,
    lambda_seconds,
)
from local.run import STACK_NAME
from local.runner_template import load_template

INIT = dict.fromkeys(FUNCTIONS, 0.0)


def _model(*, wall: float, cpu: float) -> Model:
    day = DayFigures(size=1000, wall=wall, cpu=cpu, bytes=1e6, rows=8000, s3_put=2, s3_get=1)
    run = RunFigures(
        plan_wall=wall,
        plan_cpu=cpu,
        upload_seconds_per_mb=1.0,
        upload_cpu_share=cpu / wall,
        transitions_fixed=5,
        s3_put_per_run=2,
        s3_get_per_day=2,
    )
    return Model(
        days=[day], run=run, init_cpu=INIT, max_concurrency=8, prices=Prices(), window_days=47.0, exported_days=47.0
    )


def _gb_seconds(sizing: Sizing) -> float:
    return sizing.invocations * sizing.seconds[0] * sizing.memory / 1024


def test_below_one_vcpu_only_the_cpu_part_of_a_duration_stretches() -> None:
    # 1 s waiting and 1 s of CPU: at half a vCPU the CPU second takes two
    assert lambda_seconds(2.0, 1.0, ONE_VCPU_MB // 2) == pytest.approx(1.0 + ONE_VCPU_MB / (ONE_VCPU_MB // 2))
    assert lambda_seconds(2.0, 1.0, ONE_VCPU_MB) == pytest.approx(2.0)
    assert lambda_seconds(2.0, 1.0, 2 * ONE_VCPU_MB) == pytest.approx(2.0)  # one thread gains nothing above


@pytest.mark.parametrize("function", FUNCTIONS)
def test_cpu_bound_work_costs_the_same_gb_seconds_at_every_size_up_to_one_vcpu(function: str) -> None:
    # Given a function that never waits
    model = _model(wall=1.0, cpu=1.0)
    # When it is sized at 512 and 1024 MB
    small, large = model.sizing(function, 512), model.sizing(function, 1024)
    # Then it takes twice as long at half the memory, for the same GB-seconds
    assert small.seconds[0] == pytest.approx(2 * large.seconds[0])
    assert _gb_seconds(small) == pytest.approx(_gb_seconds(large))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_that_mostly_waits_is_cheapest_at_the_smallest_size(function: str) -> None:
    # Given a function that waits 9 s for 1 s of CPU
    model = _model(wall=10.0, cpu=1.0)
    # When every size is priced
    options = [model.sizing(function, memory) for memory in (512, 1024, 1769)]
    # Then the smallest is chosen, and it is the cheapest
    assert chosen_memory(options).memory == 512
    assert options[0].cost[0] < options[1].cost[0] < options[2].cost[0]


def test_a_size_whose_invocation_would_crowd_the_timeout_is_not_chosen() -> None:
    # Given 512 MB cheapest but at 300 s an invocation (a third of the 900 s timeout), 1024 MB at 160 s
    options = [
        Sizing("ExportDayFunction", 512, 1.0, (300.0,), (0.001,)),
        Sizing("ExportDayFunction", 1024, 1.0, (160.0,), (0.002,)),
        Sizing("ExportDayFunction", 1769, 1.0, (100.0,), (0.003,)),
    ]
    # Then the cheapest size within a quarter of the timeout is chosen
    assert chosen_memory(options).memory == 1024


def test_cold_starts_are_spread_over_the_exports_of_a_run() -> None:
    # Given 1 s of import CPU per cold start and no work
    model = replace(_model(wall=1.0, cpu=0.0), init_cpu=dict.fromkeys(FUNCTIONS, 1.0))
    # When the export is sized at one vCPU
    export = model.sizing("ExportDayFunction", ONE_VCPU_MB)
    # Then each of its invocations carries 8 cold starts' share of a run's invocations
    assert export.seconds[0] == pytest.approx(1.0 + 8 / export.invocations)


def test_template_memory_sizes_are_the_ones_docs_cost_md_chose() -> None:
    # Given the generated cost document and the template
    chosen = dict(re.findall(r"^- \*\*(\w+Function): (\d+) MB\*\*", DOC.read_text(), flags=re.MULTILINE))
    template = load_template(stack_name=STACK_NAME)
    # Then every function's MemorySize is the size the cost model chose
    assert chosen == {function: str(template.functions[function].memory_size) for function in FUNCTIONS}


def test_refresh_window_days_per_run_are_simulated_from_the_selection() -> None:
    # Without a window every day of the window; with a window longer than any window, the same
    assert average_days_per_run() == pytest.approx(average_days_per_run(refresh_days=62))
    # REFRESH_DAYS=1 over 2025: one recent day a run, each closed month once more (365 days in all), and on the 2nd
    # the 1st too (on the 1st it is not yet in the window, so it has no export)
    assert average_days_per_run(refresh_days=1) == pytest.approx((365 + 365 + 12) / 365)


def test_fewer_exported_days_cost_less_for_the_same_window() -> None:
    model = _model(wall=10.0, cpu=1.0)
    window = model.sizing("ExportDayFunction", 512)
    refreshed = replace(model, exported_days=4.0).sizing("ExportDayFunction", 512)
    assert refreshed.cost[0] < window.cost[0] / 10
    assert replace(model, exported_days=4.0).sizing("UploadFunction", 512) == model.sizing("UploadFunction", 512)
