"""What-if capacity analysis for managers: variants side by side, headroom, bottlenecks,
sweeps, in local processes or on a Dask cluster; and the report (CSV, JSON, charts, HTML).

>>> plan = read_plan(read_data(Path("variants.yaml")), scenario)            # doctest: +SKIP
>>> result = run_whatif(scenario, plan, WhatIfOptions(time_limit=5))        # doctest: +SKIP
>>> from scheduler.usecases.whatif.report import write_report    # matplotlib: imported apart
>>> write_report(result, Path("out/whatif"))                               # doctest: +SKIP
"""

from scheduler.usecases.whatif.analysis import run_whatif
from scheduler.usecases.whatif.bottleneck import relaxations
from scheduler.usecases.whatif.figures import Usage
from scheduler.usecases.whatif.headroom import headroom
from scheduler.usecases.whatif.plan import (
    BASE,
    SweepCell,
    WhatIfOptions,
    WhatIfPlan,
    check_applies,
    read_plan,
)
from scheduler.usecases.whatif.pools import Pool, cluster_pool, local_pool, thread_pool
from scheduler.usecases.whatif.results import (
    COMBINED,
    RESOURCES,
    Bottleneck,
    First,
    Headroom,
    Outcome,
    Probe,
    Step,
    SweepGrid,
    WhatIf,
    WhatIfProgress,
)

__all__ = [
    "BASE",
    "COMBINED",
    "RESOURCES",
    "Bottleneck",
    "First",
    "Headroom",
    "Outcome",
    "Pool",
    "Probe",
    "Step",
    "SweepCell",
    "SweepGrid",
    "Usage",
    "WhatIf",
    "WhatIfOptions",
    "WhatIfPlan",
    "WhatIfProgress",
    "check_applies",
    "cluster_pool",
    "headroom",
    "local_pool",
    "read_plan",
    "relaxations",
    "run_whatif",
    "thread_pool",
]
