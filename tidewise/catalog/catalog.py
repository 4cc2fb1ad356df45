"""The loaded catalog: every offering a capacity policy may buy, with a lookup by key."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidewise.model import InstanceType, Offering, PurchaseOption


@dataclass(frozen=True, slots=True)
class Catalog:
    """Instance types and offerings of one provider, as loaded from one catalog file.

    ``rejected`` says, one line per row, which rows failed the sanity checks and why, so that a
    type missing from ``instance_types`` can be explained rather than guessed at.
    """

    provider: str
    instance_types: dict[str, InstanceType]
    offerings: tuple[Offering, ...]
    rejected: tuple[str, ...] = ()
    _by_key: dict[tuple[str, str, PurchaseOption], Offering] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_key = {(o.instance_type.name, o.zone, o.option): o for o in self.offerings}
        object.__setattr__(self, "_by_key", by_key)

    def offering(self, type_name: str, zone: str, option: PurchaseOption | str) -> Offering:
        """The offering of ``type_name`` in ``zone`` bought as ``option``.

        Raises ``KeyError`` whose message lists what *is* offered, since the usual mistake is a
        zone name (AWS zone IDs such as ``use1-az1`` are not zone names such as ``us-east-1a``).
        """
        option = PurchaseOption(option)
        found = self._by_key.get((type_name, zone, option))
        if found is not None:
            return found
        if type_name not in self.instance_types:
            known = ", ".join(sorted(self.instance_types))
            raise KeyError(f"no {type_name!r} in the {self.provider} catalog; types: {known}")
        offered = sorted(f"{z}/{o.value}" for (t, z, o) in self._by_key if t == type_name)
        raise KeyError(
            f"{type_name} not offered as {option.value} in {zone!r}; offered: {', '.join(offered)}"
        )
