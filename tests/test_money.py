from decimal import Decimal

import pytest

from banking.errors import InvalidAmount
from banking.money import MAX_AMOUNT, parse_amount


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("100.00", Decimal("100.00")),
        ("100", Decimal("100.00")),
        ("0.01", Decimal("0.01")),
        ("7.5", Decimal("7.50")),
        ("007.50", Decimal("7.50")),
        (25, Decimal("25.00")),
        (Decimal("10.1"), Decimal("10.10")),
        ("1000000000.00", MAX_AMOUNT),
    ],
)
def test_valid_amounts_parse_to_two_places(raw, expected):
    parsed = parse_amount(raw)
    assert parsed == expected
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw",
    [None, "", "  ", "0", "0.00", "-1", "-0.01", -5, 0, "abc", "NaN", "nan", "Infinity", "-Infinity",
     "1e3", "1.005", "0.001", "1,000.00", "1000000000.01", "99999999999999999999999", True, False,
     1.5, [], {}, Decimal("NaN"), Decimal("Infinity"), Decimal("1.001"), "+5", ".5", "5.",
     " 7.5 ", "7.5\n"],
)
def test_invalid_amounts_are_refused(raw):
    with pytest.raises(InvalidAmount):
        parse_amount(raw)


def test_negative_amount_message_says_positive():
    with pytest.raises(InvalidAmount, match="Amount must be positive"):
        parse_amount("-100.00")
