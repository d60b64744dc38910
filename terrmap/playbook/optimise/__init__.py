"""Auto-balance: propose a balanced alignment that disrupts as little as possible.

:func:`design` (module :mod:`terrmap.playbook.optimise.territory_design`) is the
territory design a manager signs: several measures each within its band,
every territory in one piece on the adjacency graph, a driving limit, team
travel capped, locks, disruption, and an honest account of what cannot be
reached. :func:`propose` below balances one measure (or a weighted mix)
without contiguity or a driving limit.

:func:`propose` rebalances a plan on a measure (revenue, net profit, workload,
account count or a weighted mix) so that every territory lands within
``±tolerance`` of the mean, minimising a weighted sum of

* **imbalance**: the measure outside the band, in average accounts;
* **disruption**: accounts moved (half per account, half by revenue);
* **compactness**: each account's distance to its rep's home base;

with locked accounts and locked territories left alone. :func:`greenfield`
builds territories from scratch (around the reps' home bases, or around
seeded centres); :func:`sweep` gives the trade-off curve of balance reached
against accounts moved over a range of disruption weights.

Method
------
The sales-territory alignment literature treats this as a capacitated
assignment of sales coverage units to territory centres: a transportation
problem (Hess, Weaver, Siegfeldt, Whelan & Zitlau 1965; Hess & Samuels 1971,
"Experiences with a sales districting model", *Management Science* 18(4)),
solved on *sparse* candidate sets, each unit only considering nearby
territories, followed by the resolution of the few units the LP splits
(Zoltners & Sinha 1983, "Sales territory alignment: a review and model",
*Management Science* 29(11); Zoltners & Sinha 2005, "The 2004 ISMS Practice
Prize winner: sales territory design", *Marketing Science* 24(3)). The
districting review of Kalcsics & Ríos-Mercado (2019, "Districting
problems", in *Location Science*, Springer) describes the same pattern of
location-allocation, Lagrangian pricing of the balance constraints and
local-search repair. Here:

1. candidates: the account's current territory plus its ``n_candidates``
   nearest home bases (:mod:`terrmap.playbook.optimise.problem`);
2. the balance band is priced (Lagrangian relaxation of the transportation
   problem) and every account takes its cheapest candidate; prices adapt
   until the band is met (:mod:`terrmap.playbook.optimise.solver`);
3. single-account boundary moves, best gain first, repair what rounding
   left outside the band; moved accounts go back wherever that keeps the
   band, which trims disruption.

Workload and travel are not additive (the tour model depends on the area a
territory covers). During optimisation they use an additive proxy: each
visit costs its time on site, the line haul ``2 d circuity / stops_per_day``
from the candidate's home base, and the starting plan's average local-tour
time per visit. When the exact band is missed, the problem is solved again
with the proxy's band narrowed (twice at most). Workload, dominated by time
on site, lands within the band this way; travel alone, dominated by the
area term, improves but may not, and the result says so. Every figure reported (``Proposal.before``/``after``, the
sweep) is the exact one from :meth:`terrmap.core.plan.Plan.metrics`.

Examples
--------
>>> from terrmap.demo import generate
>>> from terrmap.geo.workspace import build_workspace
>>> data = generate(300, 3, seed=2)
>>> ws = build_workspace(data.accounts, data.territories, data.reps)
>>> proposal = propose(ws.initial_plan, "revenue", 10, seed=1)
>>> proposal.plan.parent is not None or proposal.accounts_moved == 0
True
"""

from terrmap.playbook.optimise.explain import Option
from terrmap.playbook.optimise.rebalance import DEFAULT_SWEEP, Proposal, greenfield, propose, sweep
from terrmap.playbook.optimise.solver import Weights
from terrmap.playbook.optimise.territory_design import (
    BAND_MEASURES,
    Design,
    design,
    design_sweep,
    greenfield_territories,
    parse_bands,
    plan_report,
)

__all__ = [
    "BAND_MEASURES",
    "DEFAULT_SWEEP",
    "Design",
    "Option",
    "Proposal",
    "Weights",
    "design",
    "design_sweep",
    "greenfield",
    "greenfield_territories",
    "parse_bands",
    "plan_report",
    "propose",
    "sweep",
]
