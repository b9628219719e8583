"""Days and instants callers may send: bounded where the request is validated.

Python's dates end at the years 1 and 9999. A day at either end turned into an instant in Asia/Shanghai or UTC,
or given one more day as the end of a period, raised OverflowError deep inside a handler: a 500 for what is the
caller's mistake (found by the schemathesis run against the gateway). No record of the platform lies outside
these bounds, and every conversion the services make within them is safe.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)

# A calendar day (YYYY-MM-DD) in a query or a body.
Day = Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]
# An instant with its UTC offset, in the same years.
Instant = Annotated[AwareDatetime, Field(ge=datetime(1900, 1, 1, tzinfo=UTC), lt=datetime(3000, 1, 1, tzinfo=UTC))]
