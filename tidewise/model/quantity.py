"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1e3``), read exactly as Kubernetes does.

Why one exact reader: the API server, kube-scheduler and our own code must agree on what a
request means, or the extender's books, the provisioner's purchases and the twin drift apart
from the cluster. The grammar and the rounding are those of k8s.io/apimachinery
``pkg/api/resource/quantity.go`` (``ParseQuantity``)::

    <quantity>        ::= <signedNumber><suffix>
    <signedNumber>    ::= <number> | <sign><number>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <sign>            ::= "+" | "-"
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>   (an integer)

so ``1k`` is 1000 and ``1Ki`` 1024, and ``1K`` is no quantity at all. A value finer than a
nano-unit is rounded away from zero to the next nano-unit (``0.9n`` is ``1n``), as Kubernetes
stores it. Where we differ, we refuse what Kubernetes would quietly accept:

* a magnitude above 2^63 - 1 (Kubernetes' int64 ``maxAllowed``): Kubernetes caps a binary one
  there silently (``9Ei``) and keeps a decimal one unbounded (``12E``), but no resource is
  that large and every int64 accessor (``Value``, ``MilliValue``) overflows on it. The check
  runs on the digit count and the exponent before any arithmetic, so ``1e300000`` is refused
  at once rather than expanded into a 300,000-digit number;
* an exponent outside int32 (Kubernetes wraps it: ``1e4294967296`` would read as 1);
* a number without digits (``.``, ``-``, ``Ki``): outside the grammar above, though the
  upstream scanner reads such strings as 0.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_MAGNITUDE = 2**63 - 1
"""The largest quantity accepted, in base units (bytes, cores): Kubernetes' ``maxAllowed``."""

NANO = 10**9

DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

_NUMBER = re.compile(r"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(.*)", re.ASCII | re.DOTALL)
_EXPONENT = re.compile(r"[eE]([+-]?)([0-9]+)", re.ASCII)
_INT32 = 2**31 - 1
_EXAMPLES = "e.g. 500m, 2Gi, 1.5, 1e3"
_SUFFIXES = "n u m k M G T P E, Ki Mi Gi Ti Pi Ei or e<exponent>"


class QuantityError(ValueError):
    """Not a Kubernetes quantity, or one out of range; the message says which and why."""


def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity as Kubernetes' ``ParseQuantity`` reads ``text``.

    Strict as ``ParseQuantity``: no surrounding whitespace (see :func:`quantity` for values
    decoded from JSON or YAML).
    """
    return _value(text, *_split(text))


def quantity(value: object) -> Fraction:
    """A quantity as a decoded JSON or YAML value holds it: a string (trimmed, as Kubernetes'
    JSON decoding trims it) or a number (read from its text, as a JSON number is)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(f"{value!r} is not a Kubernetes quantity ({_EXAMPLES})")
    return parse_quantity(value.strip() if isinstance(value, str) else repr(value))


def quantity_suffix(text: str) -> str:
    """The suffix written after the number (``"Mi"``, ``"k"``, ``"e3"``, or ``""``)."""
    return _split(text)[3]


def _split(text: str) -> tuple[int, str, str, str]:
    """Sign, integer digits, fraction digits and a valid suffix; :class:`QuantityError`
    otherwise."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity ({_EXAMPLES})")
    sign, whole, fraction, only_fraction, suffix = match.groups()
    if suffix not in DECIMAL_SI and suffix not in BINARY_SI and not _EXPONENT.fullmatch(suffix):
        if suffix == "K":
            raise QuantityError(f"{text!r}: K is no Kubernetes suffix; write k (1000) or Ki (1024)")
        raise QuantityError(f"{text!r}: unknown suffix {suffix!r}; Kubernetes has {_SUFFIXES}")
    return (-1 if sign == "-" else 1), whole or "", fraction or only_fraction or "", suffix


def _value(text: str, sign: int, whole: str, fraction: str, suffix: str) -> Fraction:
    """``sign * whole.fraction * suffix``, rounded away from zero to a nano-unit.

    The number is ``N * 10**-shift * 2**power`` with ``N`` the digits as one integer. Only the
    digits down to the nano matter, plus whether any non-zero digit lies beyond; so neither
    a long digit string nor a huge exponent is ever expanded.
    """
    power = BINARY_SI.get(suffix, 0)
    exponent = DECIMAL_SI.get(suffix)
    if exponent is None and not power:
        exponent = _exponent(text, suffix)
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return Fraction(0)
    shift = len(fraction) - (exponent or 0)  # value = int(digits) * 10**-shift * 2**power
    if len(digits) - 1 - shift >= 19:  # at least 10**19 before the binary factor: > 2**63
        raise _too_large(text)
    nanos = _nanos(digits, shift - 9, power)
    if nanos > MAX_MAGNITUDE * NANO:
        raise _too_large(text)
    return Fraction(sign * nanos, NANO)


def _exponent(text: str, suffix: str) -> int:
    match = _EXPONENT.fullmatch(suffix)
    assert match is not None  # _split accepted the suffix
    sign, digits = match.groups()
    digits = digits.lstrip("0") or "0"
    if len(digits) > 10 or int(digits) > _INT32:
        raise QuantityError(f"{text!r}: exponent out of range (Kubernetes keeps it in int32)")
    return -int(digits) if sign == "-" else int(digits)


def _nanos(digits: str, drop: int, power: int) -> int:
    """``ceil(int(digits) * 2**power / 10**drop)`` for a positive ``digits`` without leading
    zeros whose value is below 10**19 * 10**-(drop + 9).

    Past ``drop - power`` digits, what is cut off is worth less than 1/5**power, the step
    between the values the kept digits give, so it only decides whether the result rounds
    up, never by how much.
    """
    if drop <= 0:
        return int(digits) * 2**power * 10**-drop
    cut = drop - power  # low digits that can be cut off without changing the rounding
    if cut <= 0:
        return math.ceil(Fraction(int(digits) * 2**power, 10**drop))
    kept, rest = digits[: max(len(digits) - cut, 0)], digits[max(len(digits) - cut, 0) :]
    head = Fraction(int(kept or "0") * 2**power, 10**power)
    return math.ceil(head) if not rest.strip("0") else math.floor(head) + 1


def _too_large(text: str) -> QuantityError:
    return QuantityError(f"{text!r} is out of range: above 2^63-1, more than any resource holds")
