"""Schemathesis against the app's own OpenAPI document, as a logged-in technician.

Every generated request (valid and invalid) must get no 5xx, and every 4xx must carry a
reason: our ``{"detail": {"code", "message"}}`` or FastAPI's list of field errors.
Bounded: a few examples per operation, so the whole run takes a minute or two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from smartfarm.testing.mosquitto import MosquittoServer
from tests.api.conftest import ApiUnderTest, serving_api

# Left out: the event stream never ends, and logout would end the session under test.
SKIPPED = ["/api/v1/events", "/api/v1/auth/logout"]
EXAMPLES = 20


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiUnderTest]:
    with (
        MosquittoServer(tmp_path_factory.mktemp("mosquitto")) as broker,
        serving_api(tmp_path_factory.mktemp("var"), broker.url) as api,
    ):
        yield api


@schemathesis.check
def client_errors_say_why(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx names its reason: a code and message, or FastAPI's located field errors."""
    if not 400 <= response.status_code < 500:
        return None
    detail = response.json()["detail"]
    if isinstance(detail, dict):
        assert detail.get("code") and detail.get("message"), f"no code or message: {detail}"
    else:
        assert isinstance(detail, list) and detail, f"no reason: {detail}"
        assert all(e.get("loc") and e.get("msg") for e in detail), f"unlocated: {detail}"
    return True


def test_no_5xx_and_every_4xx_says_why(live_api: ApiUnderTest) -> None:
    technician = live_api.headers("technician")
    url = f"{live_api.base_url}/api/v1/openapi.json"
    schema = schemathesis.openapi.from_url(url).exclude(path=SKIPPED)
    failures: dict[str, str] = {}
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:

        @given(case=st.one_of([operation.as_strategy(mode) for mode in GenerationMode]))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(
                headers=technician, checks=[not_a_server_error, client_errors_say_why]
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            check()
        except Exception as err:
            failures[operation.label] = str(err)[:1500]
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    # Both the valid and the invalid requests got through: successes and field errors.
    assert statuses.get(200, 0) + statuses.get(202, 0) > 50, statuses
    assert statuses.get(422, 0) > 20, statuses
