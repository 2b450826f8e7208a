"""Both signature schemes, pure: the Standard Webhooks published test vector, every malformed variant, rotation
windows and token buckets."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from flowmatic_contracts.envelope import SYSTEM, Envelope, new_envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowUpdated
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec
from flowmatic_gateway.domain.rate_limit import RateLimit, TokenBuckets, retry_after_header
from flowmatic_gateway.domain.routing import RoutingTable
from flowmatic_gateway.domain.signatures import (
    sign,
    sign_standard,
    signature_matches,
    standard_key,
    verify_delivery,
)

# The Standard Webhooks specification's published test vector (the reference libraries' tests use it).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def standard_headers(signature: str, message_id: str = VECTOR_ID, timestamp: int = VECTOR_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_standard_webhooks_test_vector() -> None:
    assert sign_standard(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    verdict = verify_delivery([VECTOR_SECRET], VECTOR_BODY, standard_headers(VECTOR_SIGNATURE), VECTOR_TIMESTAMP)
    assert verdict.ok


def test_whsec_secrets_are_base64_decoded_and_others_used_as_bytes() -> None:
    assert standard_key(VECTOR_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert standard_key("plain secret") == b"plain secret"
    assert standard_key("whsec_not base64!") == b"whsec_not base64!"


def test_any_one_of_several_signatures_may_match() -> None:
    listed = f"v1,bm9wZQ== v1a,xyz {VECTOR_SIGNATURE}"
    assert verify_delivery([VECTOR_SECRET], VECTOR_BODY, standard_headers(listed), VECTOR_TIMESTAMP).ok


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_within_five_minutes_pass(skew: int) -> None:
    headers = standard_headers(VECTOR_SIGNATURE)
    assert verify_delivery([VECTOR_SECRET], VECTOR_BODY, headers, VECTOR_TIMESTAMP + skew).ok


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamps_beyond_five_minutes_fail(skew: int) -> None:
    verdict = verify_delivery([VECTOR_SECRET], VECTOR_BODY, standard_headers(VECTOR_SIGNATURE), VECTOR_TIMESTAMP + skew)
    assert not verdict.ok and verdict.reason == "timestamp_out_of_tolerance"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "signature_missing"),
        ({"webhook-signature": VECTOR_SIGNATURE}, "signature_malformed"),
        ({"webhook-signature": VECTOR_SIGNATURE, "webhook-id": VECTOR_ID}, "signature_malformed"),
        (standard_headers(VECTOR_SIGNATURE) | {"webhook-timestamp": "16142653.30"}, "signature_malformed"),
        (standard_headers(VECTOR_SIGNATURE) | {"webhook-timestamp": "-1614265330"}, "signature_malformed"),
        (standard_headers(VECTOR_SIGNATURE) | {"webhook-timestamp": "9" * 40}, "signature_malformed"),
        (standard_headers(""), "signature_malformed"),
        (standard_headers("   "), "signature_malformed"),
        (standard_headers(" ".join(["v1,AAAA"] * 11)), "signature_malformed"),
        (standard_headers("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "signature_invalid"),
        (standard_headers("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "signature_invalid"),
        (standard_headers("v1,not base64 at all é"), "signature_invalid"),
        (standard_headers(VECTOR_SIGNATURE, message_id="msg_other"), "signature_invalid"),
        ({"x-webhook-signature": "sha256="}, "signature_invalid"),
        ({"x-webhook-signature": "md5=abc"}, "signature_malformed"),
        ({"x-webhook-signature": "sha256=ÿÿ"}, "signature_invalid"),
        ({"x-webhook-signature": ""}, "signature_malformed"),
    ],
)
def test_every_malformed_variant_is_refused_without_raising(headers: dict[str, str], reason: str) -> None:
    verdict = verify_delivery([VECTOR_SECRET], VECTOR_BODY, headers, VECTOR_TIMESTAMP)
    assert not verdict.ok and verdict.reason == reason and verdict.detail


def test_a_wrong_secret_or_other_bytes_fail_the_standard_scheme() -> None:
    headers = standard_headers(VECTOR_SIGNATURE)
    assert not verify_delivery(["whsec_" + "A" * 32], VECTOR_BODY, headers, VECTOR_TIMESTAMP).ok
    assert not verify_delivery([VECTOR_SECRET], VECTOR_BODY + b" ", headers, VECTOR_TIMESTAMP).ok


def test_the_sha256_header_scheme() -> None:
    header = sign("k", b"body")
    assert signature_matches("k", b"body", header)
    assert signature_matches("k", b"body", header.upper().replace("SHA256=", "sha256="))  # hex in either case
    assert not signature_matches("k", b"body ", header)
    assert not signature_matches("j", b"body", header)
    assert not signature_matches("k", b"body", None)
    assert not signature_matches("k", b"body", header.removeprefix("sha256="))
    assert verify_delivery(["k"], b"body", {"x-webhook-signature": header}, 0).ok
    assert verify_delivery([], b"body", {}, 0).ok  # no secret: nothing to check


def test_either_secret_of_a_rotation_and_either_scheme_pass() -> None:
    old, new = "old-secret", "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert verify_delivery([new, old], b"x", {"x-webhook-signature": sign(old, b"x")}, 0).ok
    standard = standard_headers(sign_standard(old, "m", 100, b"x"), message_id="m", timestamp=100)
    assert verify_delivery([new, old], b"x", standard, 100).ok
    assert not verify_delivery([new], b"x", standard, 100).ok
    # a wrong legacy header does not hide a good Standard Webhooks signature
    both = standard | {"x-webhook-signature": sign("nope", b"x")}
    assert verify_delivery([old], b"x", both, 100).ok


def written(secret: str | None, version: int, at: datetime) -> Envelope:
    spec = WorkflowSpec.model_validate({"name": "w", "nodes": [{"id": "trigger", "type": "webhook"}]})
    kind: type[WorkflowCreated | WorkflowUpdated] = WorkflowCreated if version == 1 else WorkflowUpdated
    payload = kind(
        spec=spec,
        webhooks=[WebhookBinding(webhook_id="wh_1", trigger_id="trigger", methods=["POST"], has_secret=bool(secret))],
        encrypted_secrets={"trigger": secret} if secret else {},
    )
    return new_envelope(payload, aggregate_id="wf_1", actor=SYSTEM, sequence=version).model_copy(
        update={"occurred_at": at}
    )


def test_rotation_keeps_the_replaced_secret_until_its_expiry() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    table = RoutingTable(previous_secret_ttl=timedelta(hours=1))
    table.apply(written("ct-a", 1, t0))
    route = table.lookup("wh_1")
    assert route is not None and route.secrets_valid_at(t0) == ["ct-a"]

    table.apply(written("ct-b", 2, t0 + timedelta(minutes=10)))
    route = table.lookup("wh_1")
    assert route is not None
    assert route.secrets_valid_at(t0 + timedelta(minutes=69)) == ["ct-b", "ct-a"]
    assert route.secrets_valid_at(t0 + timedelta(minutes=70)) == ["ct-b"]

    # an update that keeps the secret keeps the window; a later rotation replaces it
    table.apply(written("ct-b", 3, t0 + timedelta(minutes=20)))
    route = table.lookup("wh_1")
    assert route is not None and route.secrets_valid_at(t0 + timedelta(minutes=30)) == ["ct-b", "ct-a"]
    table.apply(written("ct-c", 4, t0 + timedelta(minutes=40)))
    route = table.lookup("wh_1")
    assert route is not None and route.secrets_valid_at(t0 + timedelta(minutes=41)) == ["ct-c", "ct-b"]

    # removing the secret ends every window: no signature is needed any more
    table.apply(written(None, 5, t0 + timedelta(minutes=50)))
    route = table.lookup("wh_1")
    assert route is not None and route.secrets_valid_at(t0 + timedelta(minutes=51)) == []
    table.apply(written("ct-d", 6, t0 + timedelta(minutes=52)))
    route = table.lookup("wh_1")
    assert route is not None and route.secrets_valid_at(t0 + timedelta(minutes=53)) == ["ct-d"]


def test_token_buckets() -> None:
    buckets = TokenBuckets(RateLimit(per_second=2, burst=3))
    assert [buckets.take("a", 0.0) for _ in range(3)] == [None, None, None]
    wait = buckets.take("a", 0.0)
    assert wait == pytest.approx(0.5)
    assert buckets.take("b", 0.0) is None  # per key
    assert buckets.take("a", 0.5) is None  # refilled one token
    assert buckets.take("a", 0.5) is not None
    assert buckets.take("a", 100.0) is None  # capped at the burst, not 200 tokens
    assert [buckets.take("a", 100.0) for _ in range(2)] == [None, None]
    assert buckets.take("a", 100.0) is not None
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"
    with pytest.raises(ValueError, match="rate > 0"):
        RateLimit(per_second=0, burst=1)
    with pytest.raises(ValueError, match="burst >= 1"):
        RateLimit(per_second=1, burst=0.5)


def test_a_trigger_limit_applies_over_the_default_and_a_changed_limit_rebuilds_the_bucket() -> None:
    unlimited = TokenBuckets()
    assert all(unlimited.take("a", 0.0) is None for _ in range(100)) and len(unlimited) == 0
    own = RateLimit.of_trigger(0.5, None)
    assert own == RateLimit(0.5, 1)  # the burst defaults to the rate rounded up
    assert RateLimit.of_trigger(2.5, None).burst == 3 and RateLimit.of_trigger(2.5, 7).burst == 7
    assert unlimited.take("a", 0.0, own) is None
    assert unlimited.take("a", 0.0, own) == pytest.approx(2.0)
    buckets = TokenBuckets(RateLimit(100, 100))
    assert buckets.take("a", 0.0, own) is None and buckets.take("a", 0.0, own) is not None  # the trigger's wins
    assert buckets.take("b", 0.0) is None and buckets.take("b", 0.0) is None  # others keep the default
    raised = RateLimit(10, 10)
    assert [buckets.take("a", 0.0, raised) for _ in range(10)] == [None] * 10  # new limit, new full bucket
    assert buckets.take("a", 0.0, raised) is not None
    assert buckets.take("a", 0.0, None) is None  # back to the default: a fresh bucket of 100


def test_the_routing_table_carries_the_trigger_rate_limit() -> None:
    def created(parameters: dict[str, object]) -> Envelope:
        spec = WorkflowSpec.model_validate(
            {"name": "w", "nodes": [{"id": "t", "type": "webhook", "parameters": parameters}]}
        )
        binding = WebhookBinding(webhook_id="wh_1", trigger_id="t", methods=["POST"], has_secret=False)
        return new_envelope(WorkflowCreated(spec=spec, webhooks=[binding]), aggregate_id="wf_1", actor=SYSTEM)

    def limit_of(parameters: dict[str, object]) -> RateLimit | None:
        table = RoutingTable()
        table.apply(created(parameters))
        route = table.lookup("wh_1")
        assert route is not None
        return route.rate_limit

    assert limit_of({}) is None
    assert limit_of({"rateLimitPerSecond": 0.5}) == RateLimit(0.5, 1)
    assert limit_of({"rateLimitPerSecond": 4, "rateLimitBurst": 9}) == RateLimit(4, 9)
    unsaveable_rates: list[object] = ["5", 0, True, -1]
    for rate in unsaveable_rates:
        unsaveable = {"rateLimitPerSecond": rate}
        assert limit_of(unsaveable) is None  # never saved that way; read as unset rather than failing the fold
    assert limit_of({"rateLimitPerSecond": 2, "rateLimitBurst": 0}) == RateLimit(2, 2)
