"""Entity extraction for `tool` and `sector`: lookup tables, synonyms, regexes, fuzzy match.

A gazetteer is built from the training data: lookup values, synonym variants, and every
entity annotated in the examples. Matching is on folded token n-grams (longest first), then
a typo-tolerant pass (Damerau-Levenshtein, one edit for short names, two for long ones) on
what is left. Values are normalised to the canonical name (`gmal` -> `Gmail`). A name that
is also an everyday word ("le drive", "l'office de tourisme") counts only where a product is
meant, and the typo-tolerant pass leaves alone the words the examples use as plain words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from rapidfuzz.distance import DamerauLevenshtein

from .text import Token, fold, tokenize
from .training_data import TrainingData

MAX_NGRAM = 5
# Folded words never read as an entity on their own, even when a lookup table lists them:
# everyday words ("carte", "site") and vendor names that alone are ambiguous ("google").
STOPWORDS = frozenset(
    """
    a au aux avec c ce ces cette de des du en et je la le les leur lui ma mais me mes mon ne
    ni nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes ton tu un
    une vos votre vous y est suis sont ai as avez ont faire fait mail mails site sites page
    pages carte cartes compte comptes appli application logiciel outil outils google
    microsoft apple orange free sfr bonjour merci oui non ok bien tout
    tous
    """.split()
)


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    text: str
    start: int
    end: int
    confidence: float
    extractor: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Product names that are also everyday words, in French or in English: "le drive" of a
# supermarket, "l'office de tourisme", "3 x par semaine", "des notions de compta", "un
# élément", "guests keep asking", "my team". Read as the product only where a product is
# meant (`EntityExtractor._meant_as_name`).
EVERYDAY_NAMES = frozenset(
    """
    drive office keep meet team notion square signal element combo x booking wise wave bolt
    monday sunday
    """.split()
)
# Words before a name that do not change what it names ("le drive", "mon drive").
DETERMINERS = frozenset(
    "l le la les un une mon ma mes ton ta tes son sa ses notre votre leur".split()
)
# The word just before a tool's name ("sur drive", "sans office"; not "à", folded as the
# English article: "a notion of").
NAME_PREPOSITIONS = frozenset("sur via avec dans sans with".split())
# Words that talk about tools, a few words from the name ("Element c'est européen ?", "autre
# chose que square", "I use keep for notes").
NAME_CUES = frozenset(
    """
    alternative alternatives autre remplacer remplace remplacant quitter equivalent appli
    applis application applications app logiciel logiciels outil outils utilise utilises
    utiliser use using europeen europeenne americain americaine gratuit gratuite coute prix
    tarif tarifs abonnement software tool tools european american pack suite licence licences
    """.split()
)
CUE_WINDOW = 3


def is_everyday_name(key: tuple[str, ...]) -> bool:
    """A gazetteer key that is one everyday word, with or without its determiner."""
    words = [w for w in key if w not in DETERMINERS]
    return len(words) == 1 and words[0] in EVERYDAY_NAMES


# A word seen this often outside entities in the training examples is a plain word. Once is
# enough (session 30): on nlu/data/test.yml precision 0.659 -> 0.674 at the same recall, and
# of the 44 typo-tolerant reads in the knowledge base's labelled questions 13 fewer ("ma
# femme" as farm sales, "barrer un prix" as a barber, "filer" as Fiverr).
PLAIN_WORD_COUNT = 1


def plain_words(data: TrainingData) -> set[str]:
    """Folded words used at least PLAIN_WORD_COUNT times outside any annotated entity."""
    counts: dict[str, int] = {}
    for example in data.examples:
        spans = [(span.start, span.end) for span in example.entities]
        for token in tokenize(example.text):
            if not any(start < token.end and token.start < end for start, end in spans):
                counts[token.text] = counts.get(token.text, 0) + 1
    return {word for word, n in counts.items() if n >= PLAIN_WORD_COUNT}


class EntityExtractor:
    def __init__(
        self,
        gazetteer: dict[str, dict[tuple[str, ...], str]],
        regexes: dict[str, list[str]] | None = None,
        words: Iterable[str] = (),
    ) -> None:
        # entity -> folded token tuple -> canonical value
        self.gazetteer = gazetteer
        # Folded words the training examples use as plain words (outside any entity): the
        # typo-tolerant pass never reads them as a misspelt name ("des postes" is no Posteo).
        self.words = frozenset(words)
        self._regexes = {
            name: [re.compile(p, re.IGNORECASE) for p in patterns]
            for name, patterns in (regexes or {}).items()
        }
        # Fuzzy candidates: keys of 4+ characters, bucketed by (first letter, length), the two
        # things a close key must share with the query: a turn compares a few keys instead of
        # looping over thousands (that loop was a third of a text turn's CPU). Each carries
        # its rank in entity-then-key order, which breaks ties as before.
        self._fuzzy_buckets: dict[tuple[str, int], list[tuple[int, str, str]]] = {}
        rank = 0
        for entity, keys in gazetteer.items():
            for key in sorted({" ".join(k) for k in keys if len(" ".join(k)) >= 4}):
                self._fuzzy_buckets.setdefault((key[0], len(key)), []).append((rank, entity, key))
                rank += 1

    @classmethod
    def from_training_data(
        cls, data: TrainingData, entities: Iterable[str] | None = None
    ) -> EntityExtractor:
        wanted = set(entities) if entities is not None else None
        gazetteer: dict[str, dict[tuple[str, ...], str]] = {}

        def add(entity: str, surface: str, value: str) -> None:
            if wanted is not None and entity not in wanted:
                return
            key = tuple(fold(surface).split())
            if not key or (len(key) == 1 and key[0] in STOPWORDS):
                return
            gazetteer.setdefault(entity, {}).setdefault(key, value)

        # Canonical names first (lookups, then synonyms), so that a lower-case surface
        # annotated in an example (`[gmail](tool)`) still normalises to "Gmail".
        canonical_entity: dict[str, str] = {}
        for entity, values in data.lookups.items():
            for value in values:
                canonical = data.synonyms.get(" ".join(value.lower().split()), value)
                add(entity, canonical, canonical)
                add(entity, value, canonical)
                canonical_entity.setdefault(fold(canonical), entity)
        for example in data.examples:
            for span in example.entities:
                canonical_entity.setdefault(fold(span.value), span.entity)
        for variant, canonical in data.synonyms.items():
            entity = canonical_entity.get(fold(canonical))
            if entity is not None:
                add(entity, canonical, canonical)
                add(entity, variant, canonical)
        for example in data.examples:
            for span in example.entities:
                canonical = data.synonyms.get(" ".join(span.value.lower().split()), span.value)
                add(span.entity, example.text[span.start : span.end], canonical)
        regexes = {k: v for k, v in data.regexes.items() if wanted is None or k in wanted}
        return cls(gazetteer, regexes, plain_words(data))

    def to_dict(self) -> dict[str, object]:
        return {
            "gazetteer": {
                entity: [[list(k), v] for k, v in sorted(keys.items())]
                for entity, keys in self.gazetteer.items()
            },
            "regexes": {k: [p.pattern for p in v] for k, v in self._regexes.items()},
            "words": sorted(self.words),
        }

    @classmethod
    def from_dict(cls, payload: dict) -> EntityExtractor:  # type: ignore[type-arg]
        gazetteer = {
            entity: {tuple(k): v for k, v in pairs}
            for entity, pairs in payload["gazetteer"].items()
        }
        return cls(gazetteer, payload.get("regexes", {}), payload.get("words", ()))

    def extract(self, text: str) -> list[Entity]:
        tokens = tokenize(text)
        found: list[Entity] = []
        taken = [False] * len(tokens)
        pending = self._exact(text, tokens, taken, found)
        self._fuzzy(text, tokens, taken, found)
        self._beside_names(text, tokens, taken, found, pending)
        self._regex(text, found)
        return sorted(found, key=lambda e: e.start)

    def _exact(
        self, text: str, tokens: list[Token], taken: list[bool], found: list[Entity]
    ) -> list[tuple[int, int, str, str]]:
        """Names read exactly; returns the everyday words that may still be names
        (start, end, entity, value), decided once every other name is known."""
        pending: list[tuple[int, int, str, str]] = []
        for size in range(min(MAX_NGRAM, len(tokens)), 0, -1):
            for i in range(len(tokens) - size + 1):
                if any(taken[i : i + size]):
                    continue
                key = tuple(t.text for t in tokens[i : i + size])
                for entity, keys in self.gazetteer.items():
                    value = keys.get(key)
                    if value is None:
                        continue
                    if is_everyday_name(key) and not self._meant_as_name(text, tokens, i, i + size):
                        pending.append((i, i + size, entity, value))
                        break
                    start, end = tokens[i].start, tokens[i + size - 1].end
                    found.append(Entity(entity, value, text[start:end], start, end, 1.0, "lookup"))
                    taken[i : i + size] = [True] * size
                    break
        return pending

    @staticmethod
    def _beside_names(
        text: str,
        tokens: list[Token],
        taken: list[bool],
        found: list[Entity],
        pending: list[tuple[int, int, str, str]],
    ) -> None:
        """An everyday word a few words from a name of the same kind is one too ("drive ou
        dropbox", "notion et trello")."""
        for start, end, entity, value in pending:
            if any(taken[start:end]):
                continue
            lo, hi = (
                tokens[max(0, start - CUE_WINDOW)].start,
                tokens[min(len(tokens), end + CUE_WINDOW) - 1].end,
            )
            if any(e.entity == entity and lo <= e.start and e.end <= hi for e in found):
                begin, finish = tokens[start].start, tokens[end - 1].end
                found.append(
                    Entity(entity, value, text[begin:finish], begin, finish, 1.0, "lookup")
                )
                taken[start:end] = [True] * (end - start)

    def _fuzzy(
        self, text: str, tokens: list[Token], taken: list[bool], found: list[Entity]
    ) -> None:
        for size in (2, 1):
            for i in range(len(tokens) - size + 1):
                if any(taken[i : i + size]):
                    continue
                window = tokens[i : i + size]
                if all(self._plain(t.text) for t in window):
                    continue
                query = " ".join(t.text for t in window)
                if len(query) < 5:
                    continue
                best = self._closest(query)
                if best is None:
                    continue
                entity, key, distance = best
                everyday = is_everyday_name(tuple(key.split())) or any(
                    t.text in EVERYDAY_NAMES for t in window
                )  # "a notion of" is no misspelt "notion so"
                if everyday and not self._meant_as_name(text, tokens, i, i + size):
                    continue
                start, end = window[0].start, window[-1].end
                confidence = round(1.0 - distance / max(len(key), 1), 3)
                value = self.gazetteer[entity][tuple(key.split())]
                found.append(
                    Entity(entity, value, text[start:end], start, end, confidence, "fuzzy")
                )
                taken[i : i + size] = [True] * size

    @staticmethod
    def _meant_as_name(text: str, tokens: list[Token], start: int, end: int) -> bool:
        """tokens[start:end] name a product that is also an everyday word: the product is
        meant when written with a capital ("Drive"), right after a word that introduces a
        tool ("sur drive"), or a few words from one that talks about tools."""
        if any(text[t.start].isupper() for t in tokens[start:end] if t.text not in DETERMINERS):
            return True
        if start > 0 and tokens[start - 1].text in NAME_PREPOSITIONS:
            return True
        near = tokens[max(0, start - CUE_WINDOW) : start] + tokens[end : end + CUE_WINDOW]
        return any(t.text in NAME_CUES for t in near)

    def _plain(self, word: str) -> bool:
        """A word the fuzzy pass leaves alone: a stopword, a number, or a plain word of the
        training examples, singular or plural ("postes" for "poste")."""
        return (
            word in STOPWORDS
            or word.isdigit()
            or word in self.words
            or (word[-1:] in ("s", "x") and word[:-1] in self.words)
        )

    def _closest(self, query: str) -> tuple[str, str, int] | None:
        """The nearest key within 1 edit (2 from 9 characters), sharing the first letter."""
        allowed = 1 if len(query) < 9 else 2
        best: tuple[int, int, str, str] | None = None  # distance, rank, entity, key
        for length in range(len(query) - allowed, len(query) + allowed + 1):
            for rank, entity, key in self._fuzzy_buckets.get((query[0], length), ()):
                distance = DamerauLevenshtein.distance(query, key, score_cutoff=allowed)
                if distance <= allowed and (best is None or (distance, rank) < best[:2]):
                    best = (distance, rank, entity, key)
        return None if best is None else (best[2], best[3], best[0])

    def _regex(self, text: str, found: list[Entity]) -> None:
        for entity, patterns in self._regexes.items():
            for pattern in patterns:
                for match in pattern.finditer(text):
                    if any(e.start < match.end() and match.start() < e.end for e in found):
                        continue
                    found.append(
                        Entity(
                            entity,
                            match.group(0),
                            match.group(0),
                            match.start(),
                            match.end(),
                            1.0,
                            "regex",
                        )
                    )
