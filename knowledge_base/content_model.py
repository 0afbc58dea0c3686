"""The knowledge base in memory: guides, FAQ entries, European tools, checklists, the
self-diagnostic.

Plain frozen dataclasses, built by `knowledge_base.loader` from the content folder. The
conversation flows, the search index and the admin web all read these, never the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from nlu.text import fold

from .lexical import tokens
from .sentences import Sentence, split_sentences

# "1. text" up to the next numbered item or blank line (items may wrap over lines).
NUMBERED_ITEM = re.compile(r"^\s*\d+\.\s+(.+?)(?=\n\s*\d+\.\s|\n\s*\n|\Z)", re.M | re.S)
# The how-to section's heading ("Comment faire", "Comment faire dans les premières heures").
HOW_TO = re.compile(r"comment faire\b", re.IGNORECASE)


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


@dataclass(frozen=True)
class Guide:
    id: str
    title: str
    topic: str
    summary: str
    body: str
    sections: tuple[Section, ...]
    sources: tuple[str, ...]
    verified: date
    tags: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    checklists: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    # Questions the guide answers, in merchants' words: searched as FAQ variants are.
    questions: tuple[str, ...] = ()
    path: str = ""

    def steps(self) -> list[str]:
        """The numbered steps of the "how to" section, for short answers: the "Comment
        faire" section's when it has some, else the first numbered list. A guide may number
        something else before its how-to ("Le droit à l'image": four rules), and an overview
        headed "En pratique" should then show what to do, not the rules again."""
        listed = [
            (section.heading, items)
            for section in self.sections
            if len(items := NUMBERED_ITEM.findall(section.text)) >= 2
        ]
        how_to = [items for heading, items in listed if HOW_TO.match(heading)]
        chosen = how_to[0] if how_to else listed[0][1] if listed else []
        return [" ".join(item.split()) for item in chosen]

    @cached_property
    def sentences(self) -> tuple[tuple[Sentence, ...], ...]:
        """The summary's, then each section's, sentences with their stems (split once)."""
        return split_sentences([self.summary, *(s.text for s in self.sections)])


@dataclass(frozen=True)
class FaqEntry:
    """A short, sourced answer to one narrow question ("from when…", "is it allowed…")."""

    id: str
    question: str
    variants: tuple[str, ...]
    answer: str
    topic: str
    sources: tuple[str, ...]
    verified: date
    sectors: tuple[str, ...] = ()
    review_by: date | None = None
    guides: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    checklists: tuple[str, ...] = ()
    path: str = ""


# Countries that count as "European" for the catalogue's label: the EU and the EEA,
# Switzerland and the United Kingdom.
EUROPE = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK "
    "IS LI NO CH GB".split()
)
HOSTING_REGIONS = ("europe", "outside_europe", "unknown")


@dataclass(frozen=True)
class Pricing:
    free_tier: bool
    entry_price: str


@dataclass(frozen=True)
class Tool:
    id: str
    name: str
    vendor: str
    country: str
    category: str
    replaces: tuple[str, ...]
    hosting: str
    open_source: bool
    pricing: Pricing
    url: str
    description: str
    good_for: str
    sources: tuple[str, ...] = ()
    verified: date = date.min
    parent_country: str = ""  # the ultimate parent company's seat ("" = unknown)
    hosting_region: str = "unknown"  # europe | outside_europe | unknown
    self_hostable: bool = False
    path: str = ""

    @property
    def european(self) -> bool:
        """Publisher and parent in Europe, data hosted in Europe or on a server you choose:
        computed from the data, so a tool that stops qualifying leaves the label by itself."""
        return (
            self.country in EUROPE
            and self.parent_country in EUROPE
            and (self.hosting_region == "europe" or self.self_hostable)
        )

    @property
    def libre_hostable_in_europe(self) -> bool:
        """Not European, but open source that a merchant can host in Europe (e.g. Matomo)."""
        return not self.european and self.open_source and self.self_hostable


@dataclass(frozen=True)
class ChecklistStep:
    id: str
    title: str
    why: str
    how: str
    time: str
    done_when: str
    guides: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checklist:
    id: str
    title: str
    topic: str
    goal: str
    steps: tuple[ChecklistStep, ...]
    path: str = ""
    # Questions of a merchant who wants to be walked through it, searched as FAQ variants are.
    questions: tuple[str, ...] = ()

    @cached_property
    def step_stems(self) -> tuple[frozenset[str], ...]:
        """Each step's stems (title, why, how, when it is done), stemmed once: a narrow
        question served the plan looks for the step holding its words at every such turn."""
        return tuple(
            frozenset(tokens(f"{s.title}. {s.why} {s.how} {s.done_when}")) for s in self.steps
        )


@dataclass(frozen=True)
class Axis:
    id: str
    label: str
    checklists: tuple[str, ...] = ()
    guides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Band:
    min: int
    max: int
    label: str
    advice: str


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    score: int


@dataclass(frozen=True)
class Question:
    id: str
    axis: str
    text: str
    options: tuple[Option, ...]

    @property
    def max_score(self) -> int:
        return max(o.score for o in self.options)

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Diagnostic:
    id: str
    title: str
    intro: str
    axes: tuple[Axis, ...]
    bands: tuple[Band, ...]
    questions: tuple[Question, ...]

    def axis(self, axis_id: str) -> Axis | None:
        return next((a for a in self.axes if a.id == axis_id), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def band(self, score: int) -> Band | None:
        return next((b for b in self.bands if b.min <= score <= b.max), None)


@dataclass
class KnowledgeBase:
    guides: dict[str, Guide] = field(default_factory=dict)
    faq: dict[str, FaqEntry] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    checklists: dict[str, Checklist] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    diagnostic: Diagnostic | None = None

    def counts(self) -> dict[str, int]:
        return {
            "guides": len(self.guides),
            "faq": len(self.faq),
            "tools": len(self.tools),
            "checklists": len(self.checklists),
            "diagnostic_questions": len(self.diagnostic.questions) if self.diagnostic else 0,
            "categories": len({t.category for t in self.tools.values()}),
        }

    # The tools by each folded name they replace, built on first use: folding every tool's
    # `replaces` on every question cost several milliseconds an alternatives question
    # (issue 12). Rebuilt if tools were added since (the loader fills `tools` in place).
    _replacing: dict[str, list[Tool]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _replacing_count: int = field(default=-1, init=False, repr=False, compare=False)

    def tools_replacing(self, name: str) -> list[Tool]:
        """Tools whose `replaces` names `name` (case and accent insensitive), in catalogue
        order; a new list the caller may sort."""
        return list(self._tools_by_replaced().get(fold(name), ()))

    def _tools_by_replaced(self) -> dict[str, list[Tool]]:
        if self._replacing_count != len(self.tools):
            index: dict[str, list[Tool]] = {}
            for tool in self.tools.values():
                for key in dict.fromkeys(fold(r) for r in tool.replaces):
                    index.setdefault(key, []).append(tool)
            self._replacing, self._replacing_count = index, len(self.tools)
        return self._replacing

    # Each tool's folded name, built on first use like `_replacing`.
    _names: tuple[tuple[str, Tool], ...] = field(default=(), init=False, repr=False, compare=False)
    _names_count: int = field(default=-1, init=False, repr=False, compare=False)

    def tools_named_in(self, text: str) -> list[Tool]:
        """The catalogue's tools whose whole name `text` holds, on word boundaries, case and
        accents aside ("c'est quoi qonto ?" names Qonto): what a merchant asks about,
        whatever else the message reads like. Names of under three characters are left out."""
        folded = f" {fold(text)} "
        return [tool for name, tool in self._folded_names() if f" {name} " in folded]

    def _folded_names(self) -> tuple[tuple[str, Tool], ...]:
        if self._names_count != len(self.tools):
            named = ((fold(t.name), t) for t in self.tools.values())
            self._names = tuple((name, t) for name, t in named if len(name) >= 3)
            self._names_count = len(self.tools)
        return self._names

    def precompute(self) -> None:
        """Split and stem now what answers read (guides' sentences, checklist steps' stems,
        the tools by what they replace and by name): at start rather than at the first
        question each item answers, which a long-running worker would otherwise pay for."""
        for guide in self.guides.values():
            guide.sentences  # noqa: B018 - a cached property: computed once, kept
        for checklist in self.checklists.values():
            checklist.step_stems  # noqa: B018
        self._tools_by_replaced()
        self._folded_names()

    def faq_by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.faq.values():
            counts[entry.topic] = counts.get(entry.topic, 0) + 1
        return dict(sorted(counts.items()))

    def checklists_for_topic(self, topic: str) -> list[Checklist]:
        return [c for c in self.checklists.values() if c.topic == topic]
