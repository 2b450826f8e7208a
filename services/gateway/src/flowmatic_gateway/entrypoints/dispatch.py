"""Sending a command and waiting for its outcome; then making the read side catch up before answering."""

from __future__ import annotations

import asyncio
import logging
import time

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import CommandRejected
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.ports import BrokerUnavailableError, Outcome, QueryUnavailableError

log = logging.getLogger(__name__)


async def dispatch(deps: GatewayDeps, envelope: Envelope, timeout_seconds: float) -> Outcome:
    """Produce the command (acks=all) and wait for its outcome; 503 when either does not happen in time."""
    deadline = time.monotonic() + timeout_seconds
    # Registered before sending: the outcome may arrive before `send` even returns.
    future = deps.outcomes.register(envelope.correlation_id)
    try:
        try:
            await asyncio.wait_for(deps.commands.send(envelope), timeout=timeout_seconds)
        except (BrokerUnavailableError, TimeoutError):
            raise ProblemError(
                503,
                "Broker unavailable",
                "the command could not be written to the log; nothing was changed, try again",
                headers={"Retry-After": "1"},
            ) from None
        try:
            return await asyncio.wait_for(future, timeout=max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            raise ProblemError(
                503,
                "Command not yet applied",
                "the command was recorded but not applied in time; it will be applied, check again later",
                headers={"Retry-After": "1"},
                extra={"commandId": envelope.id},
            ) from None
    finally:
        deps.outcomes.discard(envelope.correlation_id)


def rejection(outcome: CommandRejected) -> ProblemError:
    """The problem a rejected command is answered with, as the orchestrator worded it."""
    return ProblemError(outcome.status, outcome.title, outcome.detail, errors=outcome.errors or None)


async def catch_up_reads(deps: GatewayDeps, timeout_seconds: float) -> None:
    """Make the query service and the webhook routing table include every write acknowledged so far."""
    try:
        await asyncio.wait_for(asyncio.gather(deps.query.sync(), deps.webhooks.sync()), timeout=timeout_seconds)
    except (QueryUnavailableError, TimeoutError, RuntimeError) as error:
        log.warning("read side did not catch up after a write: %r", error)
        raise ProblemError(
            503,
            "Change not yet readable",
            "the change was applied but the read side has not caught up; read it again shortly",
            headers={"Retry-After": "1"},
        ) from None
