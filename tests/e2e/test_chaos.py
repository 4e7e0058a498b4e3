"""The short chaos run (`benchmarks.chaos`): 60 threads and external requests on engines of the
run's own, one fault of each kind at a random time, and every count zero at the end.

The seed is random and printed with the report, so a failing run can be replayed with
``python -m benchmarks.chaos --threads 60 --seconds 40 --worker-kills 1 --api-kills 1
--outage 8 --seed <seed>`` (the fault times follow the seed; the machine's timing does not).
"""

from __future__ import annotations

import random

import pytest

from benchmarks import chaos

ONE_OF_EACH = {kind: 1 for kind in chaos.FAULT_KINDS}


@pytest.mark.timeout(420)
def test_sixty_threads_through_one_fault_of_each_kind_count_zero() -> None:
    seed = random.randrange(1 << 30)
    result = chaos.run(threads=60, seconds=40, faults=ONE_OF_EACH, outage=8, seed=seed)
    report = f"seed {seed}\n{result.report}"
    print(report)
    assert sorted(f.kind for f in result.faults) == sorted(chaos.FAULT_KINDS), report
    assert result.counts.nonzero() == {}, report
    # the load really went through the faults: answers of each kind were given and recorded
    assert result.load.double_answered > 0 and result.load.externals, report
    assert result.counts.events_seen > 0 and result.counts.webhooks_delivered > 0, report
    assert result.during and result.outside, report
