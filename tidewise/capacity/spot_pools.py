"""Which spot pools a scale-up may buy from: spread over pools, calmer bands preferred.

Spot is reclaimed by pool (instance type x zone), in waves. Buying every spot node from the
one cheapest pool means one wave takes the whole spot fleet, and with it every service that
runs there. Two rules, applied to the offerings before the provisioning plan:

* **Spread.** Once a node class (GPU or CPU nodes) has ``min_nodes_to_spread`` live spot
  nodes, a pool that already holds ``max_pool_share`` of them is left out, so the next
  cheapest pool is bought instead (Karpenter and EC2 Fleet diversify the same way); when
  every pool is that full, the least loaded stay open.
* **Bands.** The plan sees each spot price raised by the pool's interruption frequency over
  ``band_weight_h`` hours (Spot Advisor's bands give the frequency): with the default month,
  a pool in the >20 % band must be about 16 % cheaper than one in the <5 % band to win. This
  is EC2's price-capacity-optimized idea (low interruption first, then price) as a price.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tidewise.model import Node, NodeState, Offering, PurchaseOption

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True, slots=True)
class SpotPoolRules:
    max_pool_share: float = 0.5
    min_nodes_to_spread: int = 4
    band_weight_h: float = HOURS_PER_MONTH
    # weighted copies by the offering they weigh: the same ones are weighted on every scan
    _weighted: dict[Offering, Offering] = field(default_factory=dict, compare=False, repr=False)

    def for_planning(self, offerings: Sequence[Offering], nodes: Sequence[Node]) -> list[Offering]:
        """``offerings`` with full spot pools left out and spot prices weighted by band: for
        the plan to choose among, not to buy (map launches back by ``key``)."""
        live = [
            n
            for n in nodes
            if n.offering.option is PurchaseOption.SPOT and n.state is not NodeState.CORDONED
        ]
        per_class = Counter(_is_gpu(n.offering) for n in live)
        per_pool = Counter(_pool(n.offering) for n in live)

        def full(offering: Offering) -> bool:
            total = per_class[_is_gpu(offering)]
            return (
                total >= self.min_nodes_to_spread
                and per_pool[_pool(offering)] >= self.max_pool_share * total
            )

        spot = [o for o in offerings if o.option is PurchaseOption.SPOT]
        open_classes = {_is_gpu(o) for o in spot if not full(o)}
        least = {
            cls: min(per_pool[_pool(o)] for o in spot if _is_gpu(o) == cls)
            for cls in {_is_gpu(o) for o in spot}
        }
        chosen = []
        for offering in offerings:
            if offering.option is not PurchaseOption.SPOT:
                chosen.append(offering)
                continue
            cls = _is_gpu(offering)
            # when every pool of a class is full, the least loaded ones stay open
            if full(offering) and (cls in open_classes or per_pool[_pool(offering)] > least[cls]):
                continue
            chosen.append(self._weigh(offering))
        return chosen

    def surcharge(self, offering: Offering) -> float:
        """The share a spot price is raised by for its pool's interruptions over
        ``band_weight_h`` (0 for capacity no cloud reclaims)."""
        return offering.interruptions_per_hour * self.band_weight_h

    def _weigh(self, offering: Offering) -> Offering:
        weighted = self._weighted.get(offering)
        if weighted is None:
            factor = 1 + self.surcharge(offering)
            weighted = replace(offering, price_per_hour=offering.price_per_hour * factor)
            self._weighted[offering] = weighted
        return weighted


def _pool(offering: Offering) -> tuple[str, str]:
    return (offering.instance_type.name, offering.zone)


def _is_gpu(offering: Offering) -> bool:
    return offering.instance_type.gpu_count > 0
