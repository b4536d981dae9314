"""Pending to booked matching: the ambiguous cases, order independence, the state round trip."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.bank.reconcile import Entry, Policy, Tracker, settle, similarity

TODAY = date(2026, 6, 1)


def entry(
    key: str, amount: str = "-12.50", on: date = TODAY, description: str = "STARBUCKS", account: str = "A"
) -> Entry:
    return Entry(key, account, Decimal(amount), on, description)


def test_a_booked_transaction_replaces_its_pending_one() -> None:
    p = entry("p1", on=TODAY - timedelta(days=2), description="POS DEBIT STARBUCKS STORE 05521")
    b = entry("b1", on=TODAY, description="STARBUCKS STORE 05521")
    out = settle({"p1": p}, seen=(), booked=[b], today=TODAY)
    assert out.matched == {"p1": "b1"}
    assert out.deleted == ["p1"] and out.remaining == {}


def test_a_pending_transaction_the_bank_still_lists_is_never_replaced() -> None:
    p = entry("p1", on=TODAY - timedelta(days=30))
    out = settle({"p1": p}, seen={"p1"}, booked=[entry("b1")], today=TODAY)
    assert out.deleted == [] and out.remaining == {"p1": p}


def test_two_equal_pending_payments_and_one_booking_delete_exactly_one() -> None:
    p1 = entry("p1", on=TODAY - timedelta(days=1))
    p2 = entry("p2", on=TODAY - timedelta(days=1))
    out = settle({"p1": p1, "p2": p2}, seen=(), booked=[entry("b1")], today=TODAY)
    assert len(out.matched) == 1
    assert set(out.remaining) == {"p1", "p2"} - set(out.matched)
    again = settle({"p2": p2, "p1": p1}, seen=(), booked=[entry("b1")], today=TODAY)
    assert again.matched == out.matched, "the same choice whatever the order"


def test_two_equal_pending_payments_and_two_bookings_delete_both() -> None:
    pending = {k: entry(k, on=TODAY - timedelta(days=1)) for k in ("p1", "p2")}
    out = settle(pending, seen=(), booked=[entry("b1"), entry("b2")], today=TODAY)
    assert sorted(out.matched) == ["p1", "p2"]
    assert sorted(out.matched.values()) == ["b1", "b2"]


def test_equal_amounts_go_to_the_similar_description() -> None:
    coffee = entry("coffee", description="POS STARBUCKS 0042", on=TODAY - timedelta(days=1))
    films = entry("films", description="NETFLIX.COM", on=TODAY)
    out = settle({"coffee": coffee, "films": films}, seen=(), booked=[entry("b", description="STARBUCKS")], today=TODAY)
    assert out.matched == {"coffee": "b"}


def test_equal_descriptions_go_to_the_nearest_date() -> None:
    old = entry("old", on=TODAY - timedelta(days=5))
    near = entry("near", on=TODAY - timedelta(days=1))
    out = settle({"old": old, "near": near}, seen=(), booked=[entry("b", on=TODAY)], today=TODAY)
    assert out.matched == {"near": "b"}


def test_amount_account_and_date_window_must_agree() -> None:
    p = entry("p", on=TODAY - timedelta(days=3))
    others = [
        entry("amount", amount="-12.51"),
        entry("account", account="B"),
        entry("too-late", on=TODAY + timedelta(days=5)),
        entry("before", on=TODAY - timedelta(days=5)),
    ]
    out = settle({"p": p}, seen=(), booked=others, today=TODAY)
    assert out.matched == {}
    assert settle({"p": p}, seen=(), booked=[entry("x", amount="-12.500")], today=TODAY).matched == {"p": "x"}


def test_an_unlike_description_matches_only_an_unambiguous_pair() -> None:
    p = entry("p", description="VISA PURCHASE 4411 0331", on=TODAY - timedelta(days=1))
    b = entry("b", description="Whole Foods Market")
    assert similarity(p.description, b.description) < Policy().min_similarity
    assert settle({"p": p}, seen=(), booked=[b], today=TODAY).matched == {"p": "b"}
    q = entry("q", description="SHELL OIL", on=TODAY - timedelta(days=1))
    out = settle({"p": p, "q": q}, seen=(), booked=[b], today=TODAY)
    assert out.matched == {}, "two candidates and no description to choose: wait"


def test_an_unmatched_gone_pending_transaction_expires_after_the_limit() -> None:
    young = entry("young", on=TODAY - timedelta(days=10))
    old = entry("old", on=TODAY - timedelta(days=11))
    listed = entry("listed", on=TODAY - timedelta(days=40))
    out = settle({"young": young, "old": old, "listed": listed}, seen={"listed"}, booked=[], today=TODAY)
    assert out.expired == ["old"]
    assert set(out.remaining) == {"young", "listed"}


def test_similarity_ignores_payment_jargon_digits_and_accents() -> None:
    assert similarity("POS DEBIT STARBUCKS STORE 05521", "STARBUCKS STORE 05521") == 1.0
    assert similarity("Kartenzahlung CAFÉ Müller 12.03", "cafe muller") == 1.0
    assert similarity("NETFLIX.COM", "SAFEWAY #1234") < 0.5
    assert similarity("", "anything") == 0.0


def test_the_tracker_round_trips_through_the_state_and_handles_in_place_updates() -> None:
    tracker = Tracker()
    tracker.observe(entry("same-id", on=TODAY - timedelta(days=1)), pending=True)
    tracker.observe(entry("p2", amount="-3.00", on=TODAY - timedelta(days=1)), pending=True)
    restored = Tracker.load(tracker.dump())
    assert restored == tracker
    restored.seen.clear()  # a new sync
    restored.observe(entry("same-id"), pending=False)  # booked under the pending id: upserted in place
    restored.observe(entry("unrelated", amount="-99.00"), pending=False)
    restored.observe(entry("b2", amount="-3.00"), pending=False)
    assert set(restored.booked) == {"b2"}, "only possible partners are remembered"
    assert restored.settle(TODAY) == ["p2"]
    assert restored.pending == {} and restored.dump()["reconcile"] == {"seen": [], "booked": {}}


pending_strategy = st.lists(
    st.tuples(st.sampled_from(["-5.00", "-12.50", "20.00"]), st.integers(0, 12), st.sampled_from(["A", "B"])),
    max_size=8,
)


@given(pending=pending_strategy, booked=pending_strategy, seed=st.integers(0, 1000))
def test_settling_is_one_to_one_and_independent_of_order(
    pending: list[tuple[str, int, str]], booked: list[tuple[str, int, str]], seed: int
) -> None:
    ps = {f"p{i}": entry(f"p{i}", a, TODAY - timedelta(days=d), "SHOP", acct) for i, (a, d, acct) in enumerate(pending)}
    bs = [entry(f"b{i}", a, TODAY - timedelta(days=d), "SHOP", acct) for i, (a, d, acct) in enumerate(booked)]
    out = settle(ps, seen=(), booked=bs, today=TODAY)
    assert len(set(out.matched.values())) == len(out.matched), "a booking replaces one pending transaction at most"
    for p, b in out.matched.items():
        pb = next(x for x in bs if x.key == b)
        assert (ps[p].account, ps[p].amount) == (pb.account, pb.amount)
    shuffled = list(ps.items())
    random.Random(seed).shuffle(shuffled)
    reordered = settle(dict(shuffled), seen=(), booked=random.Random(seed).sample(bs, len(bs)), today=TODAY)
    assert reordered == out
    assert set(out.deleted) | set(out.remaining) == set(ps) and not set(out.deleted) & set(out.remaining)
