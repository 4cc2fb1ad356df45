import pytest

from tests.factories import CPU4, offering
from tidewise.model import PurchaseOption
from tidewise.sim.services.billing import billed_seconds, instance_charge

HOUR = 3600.0
WEEK = 7 * 86400.0


def test_per_second_billing_rounds_up_to_the_second():
    od = offering(CPU4, price=3.6)  # 0.001 $/s
    assert billed_seconds(od, 100.2) == 101
    assert instance_charge(od, 10.0, 110.2, WEEK, 3.6).usd == pytest.approx(0.101)


def test_minimum_charge_applies_to_short_runs():
    od = offering(CPU4, price=3.6)
    assert instance_charge(od, 0.0, 20.0, WEEK, 3.6).usd == pytest.approx(0.060)


def test_partial_hours_are_billed_pro_rata():
    od = offering(CPU4, price=0.5)
    charge = instance_charge(od, 0.0, 2.5 * HOUR, WEEK, 0.5)
    assert charge.usd == pytest.approx(1.25)
    assert charge.option is PurchaseOption.ON_DEMAND


def test_reserved_is_owed_for_the_term_even_when_released_early():
    ri = offering(CPU4, PurchaseOption.RESERVED, price=0.6, term_s=10 * HOUR)
    charge = instance_charge(ri, HOUR, 2 * HOUR, WEEK, 0.6, on_demand_per_hour=1.0)
    assert charge.usd == pytest.approx(6.0)  # 10 h x 0.6
    assert charge.overrun_usd == 0


def test_reserved_term_is_cut_at_the_horizon():
    ri = offering(CPU4, PurchaseOption.RESERVED, price=0.6, term_s=365 * 86400)
    charge = instance_charge(ri, 0.0, WEEK, WEEK, 0.6, on_demand_per_hour=1.0)
    assert charge.usd == pytest.approx(0.6 * 168)


def test_reserved_past_its_term_runs_on_demand():
    ri = offering(CPU4, PurchaseOption.RESERVED, price=0.6, term_s=10 * HOUR)
    charge = instance_charge(ri, 0.0, 12 * HOUR, WEEK, 0.6, on_demand_per_hour=1.0)
    assert charge.usd == pytest.approx(6.0)
    assert charge.overrun_usd == pytest.approx(2.0)


def test_end_before_start_is_an_error():
    with pytest.raises(ValueError):
        instance_charge(offering(CPU4), 10.0, 5.0, WEEK, 1.0)
