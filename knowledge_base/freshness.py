"""What to re-check: facts whose verification is old, or whose known change date has come.

A merchant must never read a figure that quietly aged. Every guide, FAQ entry and tool
carries `verified`; an FAQ entry about a reform may also carry `review_by`. Validation warns
about them (it does not fail: an old fact is not a broken file), `comptoir kb stale` lists
them for the operator, and the back office shows the same list, oldest first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from .content_model import KnowledgeBase

DEFAULT_MONTHS = 12


@dataclass(frozen=True)
class StaleItem:
    kind: str  # guide | faq | tool
    id: str
    title: str
    path: str
    verified: date
    review_by: date | None
    reason: str  # in French, for the operator

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["verified"] = self.verified.isoformat()
        data["review_by"] = self.review_by.isoformat() if self.review_by else None
        return data


def months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - 28 always exists


def stale_items(kb: KnowledgeBase, today: date, months: int = DEFAULT_MONTHS) -> list[StaleItem]:
    """Items verified before `months` months ago or whose `review_by` has come; oldest first."""
    cutoff = months_before(today, months)
    found: list[StaleItem] = []

    def consider(
        kind: str, item_id: str, title: str, path: str, verified: date, review_by: date | None
    ) -> None:
        reasons = []
        if verified < cutoff:
            reasons.append(f"vérifié le {verified:%d/%m/%Y}, il y a plus de {months} mois")
        if review_by is not None and review_by <= today:
            reasons.append(f"à revoir depuis le {review_by:%d/%m/%Y} (changement annoncé)")
        if reasons:
            found.append(
                StaleItem(kind, item_id, title, path, verified, review_by, " ; ".join(reasons))
            )

    for guide in kb.guides.values():
        consider("guide", guide.id, guide.title, guide.path, guide.verified, None)
    for entry in kb.faq.values():
        consider("faq", entry.id, entry.question, entry.path, entry.verified, entry.review_by)
    for tool in kb.tools.values():
        consider("tool", tool.id, tool.name, tool.path, tool.verified, None)
    return sorted(found, key=lambda item: (item.verified, item.kind, item.id))
