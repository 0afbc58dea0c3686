"""A served knowledge base splits and stems what answers read at start, not on a turn."""

from __future__ import annotations

from pathlib import Path

from knowledge_base.loader import load_knowledge_base

CONTENT = Path(__file__).resolve().parents[2] / "knowledge_base" / "content"


def test_precompute_fills_what_turns_read_with_the_same_values() -> None:
    served, _ = load_knowledge_base(CONTENT)
    lazy, _ = load_knowledge_base(CONTENT)
    served.precompute()
    for guide_id, guide in served.guides.items():
        assert "sentences" in vars(guide)  # kept on the object: no turn splits it again
        assert guide.sentences == lazy.guides[guide_id].sentences
    for checklist_id, checklist in served.checklists.items():
        assert "step_stems" in vars(checklist)
        assert checklist.step_stems == lazy.checklists[checklist_id].step_stems
    assert served.tools_replacing("Gmail") == lazy.tools_replacing("Gmail")
    assert served.tools_replacing("Gmail")  # the shipped catalogue replaces Gmail
