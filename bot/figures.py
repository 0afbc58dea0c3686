"""Which figure a merchant's question asks for, and whether a text states one of that kind.

"amende si j'oublie le SIREN ?" asks for a sum, "c'est obligatoire quand ?" for a date, "j'ai
combien de temps ?" for a duration: a reply that does not state one of that kind does not
answer, however close its subject ("Quel outil pour mes factures électroniques ?" under "la
facture électronique, c'est quand ?"). Read on folded text (`nlu.text.fold`: lower case, no
accents, punctuation as spaces), with regular expressions: cheap, and no encoding.
"""

from __future__ import annotations

import re

from nlu.text import fold

MONEY = "money"
DATE = "date"
DURATION = "duration"
NUMBER = "number"

# The words that ask, in the order they are tried: "combien de temps" is a duration before
# "combien" is a sum; "quel délai" a duration, "quelle date" a date. "quand" followed by a
# subject ("quand on est micro-entrepreneur") is a conjunction, not a question.
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        DURATION,
        re.compile(
            r"\b(?:combien de (?:temps|jours|mois|ans|annees|semaines)|delais?|durees?|"
            r"pendant combien|au bout de combien)\b"
        ),
    ),
    (
        DATE,
        re.compile(
            r"\b(?:c est quand|c quand|a partir de quand|jusqu a quand|depuis quand|quelle date|"
            r"dates? limites?|en quelle annee|quelle annee|echeances?|quand(?! (?:on|je|j|il|"
            r"elle|ils|elles|nous|vous|tu|un|une|le|la|les|l|mon|ma|mes|ton|ta|son|sa|ses|notre|"
            r"nos|votre|vos|leur|leurs|ce|cette|ces|meme|des|du|qu|c)\b))\b"
        ),
    ),
    (
        MONEY,
        re.compile(
            r"\b(?:amendes?|penalites?|montants?|prix|tarifs?|couts?|coute|coutent|frais|"
            r"combien (?:ca|ça|c|je|on|il|elle|faut|pour|par)|c combien|cest combien|"
            r"c est combien|je risque combien|quel budget)\b"
        ),
    ),
    (
        NUMBER,
        re.compile(
            r"\b(?:seuils?|plafonds?|taux|pourcentage|combien de (?:salaries|contacts|clients|"
            r"personnes|employes|caracteres|fois)|a partir de combien|jusqu a combien)\b"
        ),
    ),
)

_NUMBER_WORD = (
    r"(?:\d+(?:[ ,.]\d+)*|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|"
    r"quinze|vingt|trente|quarante|cinquante|soixante|cent|mille)"
)
_MONTHS = (
    r"(?:janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre)"
)
_STATES: dict[str, re.Pattern[str]] = {
    MONEY: re.compile(r"\d(?:[\d .,]*\d)?\s*(?:€|euros?\b|eur\b|k€)|\b\d+\s*%"),
    DATE: re.compile(rf"\b(?:19|20)\d\d\b|\b(?:1er|\d{{1,2}}) {_MONTHS}\b"),
    DURATION: re.compile(
        rf"\b{_NUMBER_WORD} (?:jours?|semaines?|mois|ans|annees?|heures?|minutes?)\b"
    ),
    NUMBER: re.compile(r"\d"),
}


def asked_figure(question: str) -> str | None:
    """The kind of figure the question asks for (MONEY, DATE, DURATION, NUMBER), or None
    (also when the question states one of that kind itself)."""
    folded = fold(question)
    kind = next((kind for kind, words in _ASKS if words.search(folded)), None)
    # "les frais cb me bouffent 1,5 %, comment comparer ?": the merchant's own figure is what
    # they know; what they ask is something else.
    return None if kind is not None and states_figure(question, kind) else kind


def states_figure(text: str, kind: str) -> bool:
    """`text` holds a figure of `kind` ("15 €", "1er septembre 2027", "un mois", "10 %")."""
    lowered = text.lower()
    if kind == MONEY:
        return bool(_STATES[MONEY].search(lowered))
    return bool(_STATES[kind].search(fold(text)))
