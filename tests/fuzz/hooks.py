"""schemathesis hooks for the suite's fuzz run (tests/test_fuzz.py).

Generated account ids would almost never name an account the fuzzer owns, so every
deposit, withdrawal and transfer would be a 404 and the write path would be fuzzed only
with refusals. A generated id that is a valid id is replaced by one of the fuzzer's
accounts (FUZZ_ACCOUNT_ID, funded far beyond any amount; FUZZ_PAYEE_ACCOUNT_ID, another
user's account, as a transfer's destination). Ids that are invalid on purpose (negative
tests) are left alone.
"""
from __future__ import annotations

import os
import random

import schemathesis

_ID_MAX = 2**63 - 1


def _is_valid_id(value: object) -> bool:
    # JSON Schema's "integer" admits 5.0 as well as 5.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _ID_MAX


def _own() -> int:
    return int(os.environ["FUZZ_ACCOUNT_ID"])


@schemathesis.hook
def before_add_examples(context, examples):
    # The examples phase builds its cases without the map_* hooks.
    for case in examples:
        case.body = map_body(context, case.body)


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if _is_valid_id(body.get("account_id")):
        body["account_id"] = _own()
    if _is_valid_id(body.get("from_account_id")):
        body["from_account_id"] = _own()
    if _is_valid_id(body.get("to_account_id")):
        body["to_account_id"] = int(os.environ["FUZZ_PAYEE_ACCOUNT_ID"])
    return body


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    # Reads of an account: mostly the fuzzer's own (200s), sometimes the generated id
    # (404s: someone else's or nobody's).
    if path_parameters and _is_valid_id(path_parameters.get("account_id")) and random.random() < 0.8:
        return {**path_parameters, "account_id": _own()}
    # And of a webhook endpoint: mostly the fuzzer's own (which a DELETE may remove).
    if path_parameters and _is_valid_id(path_parameters.get("webhook_id")) and random.random() < 0.8:
        return {**path_parameters, "webhook_id": int(os.environ["FUZZ_WEBHOOK_ID"])}
    return path_parameters
