"""The quantity reader against Kubernetes' own table.

The cases are those of ``TestQuantityParse`` in k8s.io/apimachinery
``pkg/api/resource/quantity_test.go`` (kubernetes/apimachinery, read at commit 357557a6),
written here as (text, exact value): upstream states each expectation as ``decQuantity(m, e)``,
i.e. m x 10**e, which is what the second column says.
"""

import time
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.model.quantity import (
    MAX_MAGNITUDE,
    QuantityError,
    parse_quantity,
    quantity,
    quantity_suffix,
)


def dec(mantissa: int, exponent: int) -> Fraction:
    return Fraction(mantissa) * Fraction(10) ** exponent


KI, MI, GI, TI, PI, EI = (1024**k for k in range(1, 7))

UPSTREAM_VALID = [
    ("0", 0),
    ("0n", 0),
    ("0u", 0),
    ("0m", 0),
    ("0Ki", 0),
    ("0k", 0),
    ("0Mi", 0),
    ("0M", 0),
    ("0Gi", 0),
    ("0G", 0),
    ("0Ti", 0),
    ("0T", 0),
    # quantity-less numbers
    ("1", 1),
    # binary suffixes
    ("1Ki", KI),
    ("8Ki", 8 * KI),
    ("7Mi", 7 * MI),
    ("6Gi", 6 * GI),
    ("5Ti", 5 * TI),
    ("4Pi", 4 * PI),
    ("3Ei", 3 * EI),
    ("10Ti", 10 * TI),
    ("100Ti", 100 * TI),
    # decimal suffixes
    ("5n", dec(5, -9)),
    ("4u", dec(4, -6)),
    ("3m", dec(3, -3)),
    ("9", 9),
    ("8k", dec(8, 3)),
    ("50k", dec(5, 4)),
    ("7M", dec(7, 6)),
    ("6G", dec(6, 9)),
    ("5T", dec(5, 12)),
    ("40T", dec(4, 13)),
    ("300T", dec(3, 14)),
    ("2P", dec(2, 15)),
    ("1E", dec(1, 18)),
    # decimal exponents
    ("1E-3", dec(1, -3)),
    ("1e3", dec(1, 3)),
    ("1E6", dec(1, 6)),
    ("1e9", dec(1, 9)),
    ("1E12", dec(1, 12)),
    ("1e15", dec(1, 15)),
    ("1E18", dec(1, 18)),
    # nonstandard but still parsable
    ("1e14", dec(1, 14)),
    ("1e13", dec(1, 13)),
    ("100.035k", dec(100035, 0)),
    # things that look like floating point
    ("0.001", dec(1, -3)),
    ("0.0005k", dec(5, -1)),
    ("0.005", dec(5, -3)),
    ("0.05", dec(5, -2)),
    ("0.5", dec(5, -1)),
    ("0.00050k", dec(5, -1)),
    ("0.00500", dec(5, -3)),
    ("0.05000", dec(5, -2)),
    ("0.50000", dec(5, -1)),
    ("0.5e0", dec(5, -1)),
    ("0.5e-1", dec(5, -2)),
    ("0.5e-2", dec(5, -3)),
    ("10.035M", dec(10035, 3)),
    ("1.2e3", dec(12, 2)),
    ("1.3E+6", dec(13, 5)),
    ("1.40e9", dec(14, 8)),
    ("1.53E12", dec(153, 10)),
    ("1.6e15", dec(16, 14)),
    ("1.7E18", dec(17, 17)),
    ("9.01", dec(901, -2)),
    ("8.1k", dec(81, 2)),
    ("7.123456M", dec(7123456, 0)),
    ("6.987654321G", dec(6987654321, 0)),
    ("5.444T", dec(5444, 9)),
    ("40.1T", dec(401, 11)),
    ("300.2T", dec(3002, 11)),
    ("2.5P", dec(25, 14)),
    ("1.01E", dec(101, 16)),
    # things that saturate or round: away from zero, to a nano-unit
    ("3.001n", dec(4, -9)),
    ("1.1E-9", dec(2, -9)),
    ("0.0000000001", dec(1, -9)),
    ("0.0000000005", dec(1, -9)),
    ("0.00000000050", dec(1, -9)),
    ("0.5e-9", dec(1, -9)),
    ("0.9n", dec(1, -9)),
    ("0.00000012345", dec(124, -9)),
    ("0.00000012354", dec(124, -9)),
    # fractional binary quantities
    ("100.035Ki", dec(10243584, -2)),
    ("0.5Mi", MI // 2),
    ("0.05Gi", dec(536870912, -1)),
    ("0.025Ti", dec(274877906944, -1)),
    # "things written by trolls"
    ("0.000000000001Ki", dec(2, -9)),
    (".001", dec(1, -3)),
    (".0001k", dec(100, -3)),
    ("1.", dec(1, 0)),
    ("1.G", dec(1, 9)),
]

UPSTREAM_INVALID = [
    "",
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    " 1",  # surrounding whitespace is refused by ParseQuantity
    "1 ",
    "Non-Numeric",  # TestQuantityParseNonNumericPanic
]

# Upstream accepts these; we refuse them on purpose (module docstring of tidewise.model.quantity)
REFUSED_ON_PURPOSE = [
    "9Ei",  # upstream caps it at 2^63-1 silently
    "9223372036854775807Ki",  # likewise
    "12E",  # upstream keeps 1.2e19, past every int64 accessor
    "1e4294967296",  # upstream wraps the exponent to int32: reads as 1
    ".",  # upstream's scanner reads digit-less numbers as 0 (TestParseQuantityString)
    "-.",
]


@pytest.mark.parametrize(("text", "value"), UPSTREAM_VALID)
def test_upstream_table_parses_to_the_same_value(text, value):
    assert parse_quantity(text) == value
    # upstream runs every case again with a minus and with an explicit plus
    assert parse_quantity("-" + text) == -value
    assert parse_quantity("+" + text) == value


@pytest.mark.parametrize("text", UPSTREAM_INVALID)
def test_upstream_invalid_strings_are_refused(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("text", REFUSED_ON_PURPOSE)
def test_what_kubernetes_would_cap_or_wrap_is_refused(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_k_is_decimal_and_capital_k_is_no_suffix():
    assert parse_quantity("500k") == 500_000
    with pytest.raises(QuantityError, match=r"write k \(1000\) or Ki \(1024\)"):
        parse_quantity("500K")


def test_the_largest_quantity_is_kubernetes_max_allowed():
    assert parse_quantity("9223372036854775807") == MAX_MAGNITUDE
    assert parse_quantity("-9223372036854775807") == -MAX_MAGNITUDE
    assert parse_quantity("7Ei") == 7 * EI
    for text in ("9223372036854775808", "8Ei", "9.3E", "1e19"):
        with pytest.raises(QuantityError, match="out of range"):
            parse_quantity(text)


def test_absurd_exponents_and_long_digit_strings_are_answered_at_once():
    started = time.perf_counter()
    for text in ("1e300000", "1E2147483647", "1e99999999999999999999"):
        with pytest.raises(QuantityError):
            parse_quantity(text)
    assert parse_quantity("1e-300000") == dec(1, -9)  # rounds up to one nano-unit, as upstream
    assert parse_quantity("1." + "0" * 100_000 + "1") == 1 + dec(1, -9)
    assert parse_quantity("0." + "0" * 100_000 + "1Ei") == dec(1, -9)
    assert time.perf_counter() - started < 1.0  # a Decimal took seconds on the first one


@given(
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.integers(0, 14),
    st.sampled_from(sorted({"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "", "k", "M"})),
)
def test_value_is_the_exact_number_rounded_up_to_a_nano_unit(whole, fraction, width, suffix):
    digits = str(fraction % 10**width).zfill(width) if width else ""
    text = f"{whole}.{digits}{suffix}" if width else f"{whole}{suffix}"
    multiplier = {"Ki": KI, "Mi": MI, "Gi": GI, "Ti": TI, "Pi": PI, "Ei": EI}.get(suffix)
    if multiplier is None:
        multiplier = Fraction(10) ** {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6}[suffix]
    exact = (whole + (Fraction(int(digits), 10**width) if width else 0)) * multiplier
    nanos = -((-exact * 10**9) // 1)  # ceil
    if nanos > MAX_MAGNITUDE * 10**9:
        with pytest.raises(QuantityError, match="out of range"):
            parse_quantity(text)
    else:
        assert parse_quantity(text) == Fraction(nanos, 10**9)


def test_decoded_values_read_like_kubernetes_json():
    assert quantity(" 1 ") == 1  # TestJSONWhitespace: JSON strings are trimmed
    assert quantity(2) == 2 and quantity(1.5) == Fraction(3, 2) and quantity(1e18) == dec(1, 18)
    for bad in (True, None, float("nan"), ["1"]):
        with pytest.raises(QuantityError):
            quantity(bad)


def test_suffix_as_written():
    assert [quantity_suffix(t) for t in ("512", "2Gi", "1e9", "1.5k")] == ["", "Gi", "e9", "k"]
