"""Domain errors. Services raise these; ``banking.api.exception_handler`` maps each to an
HTTP status and the ``{"error": "..."}`` body, in one place."""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status_code = 400
    default_message = "The request could not be processed."

    def __init__(
        self, message: str | None = None, *, extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.message = message or self.default_message
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    default_message = "Invalid input."


class InvalidAmount(ValidationFailed):
    default_message = "Invalid amount."


class InsufficientFunds(ApplicationError):
    default_message = "Insufficient balance."


class SameAccountTransfer(ValidationFailed):
    default_message = "Cannot transfer to the same account."


class BalanceLimitExceeded(ApplicationError):
    default_message = "This deposit would take the balance over the maximum an account may hold."


class InvalidCredentials(ApplicationError):
    status_code = 401
    default_message = "Invalid credentials."


class NotFound(ApplicationError):
    status_code = 404
    default_message = "Not found."


class AccountNotFound(NotFound):
    # Same message whether the account does not exist or belongs to someone else,
    # so that ids cannot be probed.
    default_message = "Account not found."


class Conflict(ApplicationError):
    status_code = 409
    default_message = "The request conflicts with the current state."


class TransactionNotFound(NotFound):
    default_message = "Transaction not found."


class NotReversible(ApplicationError):
    default_message = "This transaction cannot be reversed."


class AlreadyReversed(Conflict):
    default_message = "This transaction has already been reversed."


class IdempotencyConflict(Conflict):
    default_message = (
        "This Idempotency-Key was already used with a different request. "
        "Use a new key for a new operation."
    )


class TooManyRequests(ApplicationError):
    status_code = 429
    default_message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int):
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class PayloadTooLarge(ApplicationError):
    status_code = 413
    default_message = "Request body too large."
