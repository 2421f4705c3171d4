"""Property tests: whatever a client sends as an amount, the parser either returns a
valid amount or raises InvalidAmount (a 400), never anything else."""
import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from banking.errors import InvalidAmount
from banking.money import AMOUNT_PATTERN, MAX_AMOUNT, parse_amount


def check(value) -> None:
    try:
        amount = parse_amount(value)
    except InvalidAmount:
        return
    assert isinstance(amount, Decimal)
    assert amount.is_finite()
    assert Decimal("0.01") <= amount <= MAX_AMOUNT
    assert amount.as_tuple().exponent == -2


@settings(max_examples=1500)
@given(st.text(max_size=40))
def test_any_text_parses_to_a_valid_amount_or_is_refused(text):
    check(text)


@settings(max_examples=1000)
@given(st.from_regex(r"\A-?[0-9]{0,14}(\.[0-9]{0,4})?\Z"))
def test_numeric_looking_strings_parse_to_a_valid_amount_or_are_refused(text):
    check(text)


@settings(max_examples=500)
@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_any_decimal_parses_to_a_valid_amount_or_is_refused(value):
    check(value)


@settings(max_examples=300)
@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_any_other_json_value_parses_to_a_valid_amount_or_is_refused(value):
    check(value)


@given(st.integers(min_value=1, max_value=100_000_000_000))  # 0.01 .. 1000000000.00, in cents
def test_every_valid_two_place_string_round_trips(cents):
    text = f"{cents // 100}.{cents % 100:02d}"
    assert str(parse_amount(text)) == text


def _accepted(text: str) -> bool:
    try:
        parse_amount(text)
    except InvalidAmount:
        return False
    return True


@settings(max_examples=1500)
@given(st.one_of(st.text(max_size=44), st.from_regex(r"\A[0 ]?[0-9]{0,11}(\.[0-9]{0,3})?\s?\Z")))
def test_the_published_pattern_is_exactly_what_the_parser_accepts(text):
    """OpenAPI clients and fuzzers validate amounts with AMOUNT_PATTERN: it must neither
    refuse what the API accepts nor admit what it refuses."""
    assert (re.fullmatch(AMOUNT_PATTERN, text) is not None and len(text) <= 40) == _accepted(text)


@settings(max_examples=500)
@given(st.from_regex(AMOUNT_PATTERN, fullmatch=True).filter(lambda t: len(t) <= 40))
def test_every_string_the_pattern_admits_is_accepted(text):
    assert _accepted(text)
