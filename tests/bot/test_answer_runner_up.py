"""Replies that state the fact: the entry ranked second when the ranker cannot tell two
entries apart, and a second question answered at once (compose12, issue 10)."""

from __future__ import annotations

import numpy as np

from bot.answers import (
    RUNNER_UP_FLOOR,
    RUNNER_UP_LOGIT_GAP,
    SURE_WHEN_INTENT_UNSURE,
    _logit,
    faq_answer,
    runner_up,
    sure_answer,
)
from bot.kb_eval import mentions
from tests.bot.test_answer_shape import _hit, _turn

TILER = "je suis carreleur sous traitant pour une grosse boite, je mets la tva sur ma facture ?"
FIRST = "fe-micro-entrepreneur-franchise-concerne"
SECOND = "facture-mention-autoliquidation-sous-traitant-btp"


def _tiler_hits(second: float):  # type: ignore[no-untyped-def]
    """The ranking of the train question above (shipped ranker): the entry on VAT exemption
    for micro-entrepreneurs first (0.978), the one on reverse charge second at `second`
    (0.952 in service)."""
    return [
        _hit(FIRST, "faq", 0.9388, 0.9777),
        _hit(SECOND, "faq", 0.9369, second),
        _hit("facture-electronique-ce-qui-change-tpe", "guide", 0.8469, 0.8602),
    ]


def test_an_entry_nearly_as_likely_as_the_first_is_shown_under_it() -> None:
    """The reverse-charge entry (the answer) follows the one ranked first; the log keeps the
    entry ranked first as the answer."""
    log: dict[str, object] = {}
    turn = _turn(log)
    first = turn.kb.faq[FIRST]
    replies = faq_answer(turn, first, _tiler_hits(0.9521))  # type: ignore[arg-type]
    assert len(replies) == 2
    assert first.question in replies[0].html
    second = turn.kb.faq[SECOND]
    assert second.question in replies[1].html and "📚" in replies[1].plain()
    assert log["faq"] == first.id and log["runner_up"] == second.id
    text = "\n".join(r.plain() for r in replies)
    assert mentions(text, ["autoliquidation"])
    assert not mentions(replies[0].plain(), ["autoliquidation"])


def _probability(logit: float) -> float:
    return float(1 / (1 + np.exp(-logit)))


def test_an_entry_far_less_likely_or_doubted_is_not_shown() -> None:
    turn = _turn()
    first = turn.kb.faq[FIRST]
    top = _logit(0.9777)
    far = _probability(top - RUNNER_UP_LOGIT_GAP - 0.1)
    near = _probability(top - RUNNER_UP_LOGIT_GAP + 0.1)
    assert far >= RUNNER_UP_FLOOR  # far only by the gap
    assert runner_up(turn, _tiler_hits(far), first) is None  # type: ignore[arg-type]
    assert runner_up(turn, _tiler_hits(near), first) is not None  # type: ignore[arg-type]
    # Under the floor, even right behind an unsure first: not shown.
    unsure_first = RUNNER_UP_FLOOR + 0.02
    for second, shown in ((RUNNER_UP_FLOOR - 0.01, False), (RUNNER_UP_FLOOR + 0.01, True)):
        hits = [_hit(FIRST, "faq", 0.9388, unsure_first), _hit(SECOND, "faq", 0.9369, second)]
        assert (runner_up(turn, hits, first) is not None) is shown  # type: ignore[arg-type]


def test_no_runner_up_when_the_entry_shown_is_not_the_one_ranked_first() -> None:
    """A paraphrased entry chosen over a guide ranked first, or a guide second: one reply."""
    turn = _turn()
    hits = [
        _hit("sauvegarder-donnees-entreprise", "guide", 0.87, 0.99),
        _hit("sauvegarde-frequence-commerce", "faq", 0.95, 0.98),
    ]
    entry = turn.kb.faq["sauvegarde-frequence-commerce"]
    assert runner_up(turn, hits, entry) is None  # type: ignore[arg-type]
    guide_second = [
        _hit("paiement-virement-instantane-gratuit", "faq", 0.965, 0.9975),
        _hit("virement-instantane-et-wero", "guide", 0.9034, 0.9775),
    ]
    entry = turn.kb.faq["paiement-virement-instantane-gratuit"]
    assert runner_up(turn, guide_second, entry) is None  # type: ignore[arg-type]


def test_a_sure_answer_carries_the_runner_up_too() -> None:
    """The unsure-intent path (`sure_answer`) composes the same way as a confident one."""
    log: dict[str, object] = {}
    turn = _turn(log)
    hits = _tiler_hits(0.9521)
    replies = sure_answer(turn, TILER, np.zeros(4), hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert [log["faq"], log["runner_up"]] == [FIRST, SECOND]
    assert len(replies) == 2
