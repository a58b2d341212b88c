"""The local engine's repair of moto's lazy ``heap_key``: Map iterations in threads share one key per component."""

from __future__ import annotations

import threading
import uuid
from unittest import mock

from moto.stepfunctions.parser import utils as moto_utils
from moto.stepfunctions.parser.asl.component import eval_component
from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl

from local.runner_states import strict_engine

WAIT_SECONDS = 5.0
OTHER_THREAD_SECONDS = 0.5  # how long the second thread is given to make a key of its own (the race)


def test_threads_asking_a_new_components_key_at_once_all_get_the_key_it_keeps() -> None:
    # Given a Retry's attempt counter nobody asked its key yet, and a first key that takes a while to make (its thread
    # switched out, as on a loaded machine)
    component = MaxAttemptsDecl(3)
    making, release = threading.Event(), threading.Event()

    def slow_first_uid() -> str:
        if not making.is_set():
            making.set()
            release.wait(WAIT_SECONDS)
        return str(uuid.uuid4())

    seen: dict[str, str] = {}

    def ask(name: str) -> None:
        seen[name] = component.heap_key

    first = threading.Thread(target=ask, args=("first",))
    second = threading.Thread(target=ask, args=("second",))
    with (
        strict_engine(),
        mock.patch.object(eval_component, "long_uid", slow_first_uid),
        mock.patch.object(moto_utils, "long_uid", slow_first_uid),
    ):
        # When a second iteration asks while the first is making the key
        first.start()
        assert making.wait(WAIT_SECONDS)
        second.start()
        second.join(OTHER_THREAD_SECONDS)
        release.set()
        first.join(WAIT_SECONDS)
        second.join(WAIT_SECONDS)
        # Then both got the one key the component keeps (else the first one's attempt count is lost: an extra retry)
        assert seen["first"] == seen["second"] == component.heap_key
