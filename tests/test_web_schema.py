"""Property-based API tests from the OpenAPI document (schemathesis): no request makes a 500.

Schemathesis reads /openapi.json from the real server (`site`, SQLite and PostgreSQL) and
sends values that fit the document (positive) and values that do not (negative) to every
operation: each response must be below 500, with a status code and a content type the
document declares (a bad value is the documented 400, never FastAPI's 422). About 40 s for
both backends: marked slow (`make test-all` and CI run it).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_request_makes_a_server_error(site: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{site}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    @given(case=schema.as_strategy(mode))
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(base_url=site, checks=[not_a_server_error, status_code_conformance,
                                                      content_type_conformance])

    check()
