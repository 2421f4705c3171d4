"""Domain errors. Services raise these; they know nothing of HTTP:
``banking.api.exception_handler`` maps each to a status and the ``{"error": "..."}``
body, in one place."""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details  # per-field messages, for a person fixing a form
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
    default_message = "Invalid credentials."


class NotFound(ApplicationError):
    default_message = "Not found."


class AccountNotFound(NotFound):
    # Same message whether the account does not exist or belongs to someone else,
    # so that ids cannot be probed.
    default_message = "Account not found."


class NotPermitted(ApplicationError):
    """Known to the caller, but not theirs to do (an auditor's token posting a reversal)."""

    default_message = "You do not have permission to perform this action."


class Conflict(ApplicationError):
    default_message = "The request conflicts with the current state."


class TransactionNotFound(NotFound):
    default_message = "Transaction not found."


class NotReversible(ApplicationError):
    default_message = "This transaction cannot be reversed."


class AlreadyReversed(Conflict):
    default_message = "This transaction has already been reversed."


class HoldNotFound(NotFound):
    # Also the answer for someone else's hold, so that hold ids cannot be probed.
    default_message = "Hold not found."


class HoldNotPending(Conflict):
    """A capture or void of a hold that is no longer pending (captured, voided, expired)."""

    def __init__(self, status: str):
        super().__init__(f"Hold is {status}: only a PENDING hold can be captured or voided.")
        self.status = status


class IdempotencyConflict(Conflict):
    default_message = (
        "This Idempotency-Key was already used with a different request. "
        "Use a new key for a new operation."
    )


class TooManyRequests(ApplicationError):
    default_message = "Too many requests. Try again later."

    def __init__(self, message: str | None = None, *, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, retry_after)  # seconds until the limit lets it through


class PayloadTooLarge(ApplicationError):
    default_message = "Request body too large."


class WebhookNotFound(NotFound):
    # Also the answer for someone else's endpoint.
    default_message = "Webhook endpoint not found."


class LimitReached(Conflict):
    """A per-user limit on how many of something may exist (webhook endpoints)."""


class UnsafeUrl(ValidationFailed):
    """A webhook URL the server will not call: not https in production, or one that
    resolves to a loopback, private, link-local or reserved address."""


class AccountFrozen(Conflict):
    """A debit (withdrawal, outgoing transfer, hold or its capture) of a frozen account."""

    def __init__(self, account_id: int):
        super().__init__(f"Account {account_id} is frozen: it accepts deposits and incoming transfers only.")


class AccountClosed(Conflict):
    """Any movement on a closed account (whose history stays readable)."""

    def __init__(self, account_id: int):
        super().__init__(f"Account {account_id} is closed: it accepts no movements.")


class StatusChangeRefused(Conflict):
    """A status change the account's state does not allow (closing a funded account,
    freezing a closed one, ...)."""
