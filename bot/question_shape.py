"""The shape of a merchant's message, read before answering it.

People introduce themselves before asking ("bonjour, je suis fleuriste à Nantes, …"), ask
two things at once, or ask either broadly ("c'est quoi le RGPD ?") or narrowly ("combien
de temps garder les factures ?"). The introduction still feeds the intent and the entities
(the trade), but it must not steer retrieval; the second question is offered as a button;
a broad question gets a guide's overview, a narrow one the passage that answers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base.lexical import tokens
from nlu.text import EMPTY_WORDS, fold, strip_accents

from .figures import MONEY, asked_figure

# "bonjour, je suis fleuriste à Nantes et ..." up to the clause that asks.
# A whole word: "Helloasso c'est quoi ?" opens on no greeting.
_GREETING_WORD = r"(?:bonjour|bonsoir|salut|hello|coucou|madame|monsieur)\b[\s,!.]*"
_INTRO = re.compile(
    f"(?:{_GREETING_WORD})*"
    + r"(?:je suis|jsuis|j suis|chui|on est|nous sommes|moi c est|j ai (?:un|une)|jai (?:un|une)|"
    r"je tiens|je gere|"
    r"je travaille|je bosse|i am|i m|we are)\b"
    # A short clause may end where the next starts without punctuation ("jsuis plombier j'ai
    # 40 devis en attente…": what follows is the question's); else at its punctuation or at
    # "et je…".
    r"(?:(?:\s+[^\s,.;:!?]+){1,3}?(?= (?:je|j|on|nous)\b)|"
    r"[^,.;:!?]{0,90}?(?:[,.;:!]|\bet\b(?= (?:je|j|on|nous|i)\b)))\s*",
    re.IGNORECASE,
)
_LEADING_GREETING = re.compile(f"(?:{_GREETING_WORD})+")
_BROAD = re.compile(
    r"\b(?:c est quoi|c quoi|cest quoi|qu est ce que|quest ce que|qu est ce qu|par ou commencer|"
    r"commence par quoi|comment (?:commencer|debuter|se lancer|m y prendre|on fait)|"
    # "comment faire ?" / "comment faire pour …", not "comment faire appel"
    r"comment faire(?= pour\b| pr\b|$)|"
    r"je debute|conseils?|explique|expliquer|expliquez|what is|how do i start|where do i start|"
    r"les bases|l essentiel|tout savoir)\b"
)
MIN_FOCUS_WORDS = 3
# What is left once the introduction is cut must still say what is asked: at least this many
# words that are neither grammar nor a bare question ("je fais quoi ?", "c'est légal ?").
MIN_FOCUS_CONTENT = 2
MIN_CONTENT_AFTER_A_GREETING = 1  # "Bonjour, comment faire un site ?"
# "bonjour, je suis fleuriste, j'ai une boutique à Nantes, on est deux, …"
MAX_INTRO_CLAUSES = 3
# "ça" opening what is left, or an object pronoun after a subject or a modal at its start
# ("je peux les mettre sur Vinted ?", "si on me le vole ?"): it refers back to what the
# introduction named.
# Not after "comment": "comment les gens me trouvent" is an article.
REFERENCE_WINDOW = 5  # words at the start of what is left
_REFERS_BACK = re.compile(
    r"^(?:ca|cela|ceci)\b|"  # "j'ai un NAS, ça compte comme une copie ?"
    r"\b(?:je|j|tu|il|ils|elle|elles|on|nous|vous|peux|peut|pouvez|dois|doit|faut|"
    r"me|m|te|se|s)\s+(?:le|la|les|l|lui|leur)\s+\w"
)


@dataclass(frozen=True)
class Shape:
    asked: str  # the first question with its introduction: what the intent model reads
    focus: str  # the first question alone: what retrieval reads
    other: str  # a second question in the same message, to offer as a button ("" if none)


def shape(message: str) -> Shape:
    text = " ".join(message.split())
    first, other = _split_questions(text)
    return Shape(first, _strip_intro(first), other)


# "c'est quoi le délai / l'amende / les mentions ?": the words of a broad question asking for
# one precise thing (a figure, a date, a list), which a narrow answer gives better than an
# overview. "c'est quoi les étapes" stays broad: the steps of a project are the overview's.
_PRECISE_ASK = re.compile(
    r"\b(?:c est quoi|c quoi|cest quoi|qu est ce que) (?:les |la |le |l |mes |nos )?"
    r"(?:delais?|montants?|prix|tarifs?|couts?|amendes?|sanctions?|seuils?|plafonds?|taux|"
    r"dates?|documents?|pieces?|mentions?)\b"
)


def is_broad(question: str) -> bool:
    """ "c'est quoi…", "par où commencer…", or two words: an overview answers it best."""
    folded = fold(question)
    if _PRECISE_ASK.search(folded):
        return False
    return bool(_BROAD.search(folded)) or len(folded.split()) <= 2


# "c'est quoi X ?", "X c quoi", "qu'est-ce qu'un X ?": asks what something is.
_DEFINITION = re.compile(
    r"\b(?:c est quoi|c quoi|cest quoi|qu est ce qu (?:un|une|on appelle)|"
    r"qu est ce que (?:le|la|les|l|c est)|what is|what s)\b"
)


# "par où commencer ?", "je commence par quoi ?", "quelles étapes ?": asks for a plan, which a
# checklist gives step by step.
_WHERE_TO_START = re.compile(
    r"\b(?:par ou commencer|par quoi commencer|commence par quoi|commencer par quoi|"
    r"par (?:ou|quoi) (?:je|on) commence|(?:je|on) commence par ou|"
    r"comment (?:commencer|debuter|se lancer|me lancer|m y prendre)|je debute|les etapes|"
    r"quelles etapes|where do i start|how do i start)\b"
)


def asks_where_to_start(question: str) -> bool:
    return bool(_WHERE_TO_START.search(fold(question)))


# A question mark, or the words that ask something ("j'ai le droit", "comment", "combien"):
# "ouvrir le dimanche j'ai le droit" reads like "bon dimanche" to the intent model, but asks.
# Not "je dois" / "faut que", "je peux", "quand", "quel" or "quoi": merchants say them taking
# leave too ("je dois filer", "je peux y aller, merci", "je reviendrai quand j'aurai fini",
# "quelle aide, merci", "c'est tout quoi, au revoir").
_PERMISSION = r"(?:j ai|a t on|on a|ai je) le droit|legal|legale|autorise|autorisee|interdit"
_ASKS = re.compile(
    rf"\b(?:comment|pourquoi|combien|est ce qu|{_PERMISSION}|obligatoire|"
    r"peut on|puis je|dois je|faut il)\b"
)


def asks_something(message: str) -> bool:
    """The message asks a question (a question mark or a question word): whatever the intent
    model reads in it ("ouvrir le dimanche j'ai le droit" is no goodbye), it is not a leave."""
    return "?" in message or bool(_ASKS.search(fold(message)))


# "une alternative à Wix", "quoi à la place de Zoom", "un équivalent européen": asks for
# tools to replace one. "Wix c'est américain ?" asks about the tool itself.
_ASKS_ALTERNATIVE = re.compile(
    r"\b(?:alternatives?|remplac\w*|equivalents?|a la place|au lieu|plutot que|quitter|"
    r"changer|migrer|autres? (?:chose|outils?|logiciels?|solutions?|applis?)|mieux|"
    r"similaires?|concurrents?|comme)\b"
)


def within(message: str, vocabulary: frozenset[str]) -> bool:
    """Every word of `message` (stemmed, stopwords aside) is in `vocabulary` (stems): the
    message asks for a flow and names no other subject ("mes checklists", "faire le test")."""
    return not set(tokens(message)) - vocabulary


def asks_for_alternative(question: str) -> bool:
    return bool(_ASKS_ALTERNATIVE.search(fold(question)))


# "Slack est américain, c'est interdit ?", "Zoom, j'ai le droit pour mes clients ?": whether a
# tool may be used (the words that ask permission, and data protection's), not what replaces it.
_ASKS_IF_ALLOWED = re.compile(
    rf"\b(?:{_PERMISSION}|rgpd|gdpr|cnil|illegal|illegale|conforme|conformite)\b"
)


def asks_if_allowed(question: str) -> bool:
    return bool(_ASKS_IF_ALLOWED.search(fold(question)))


# Words that ask to choose between the tools a message names ("Qonto ou Shine ?").
_CHOOSE = re.compile(
    r"\b(?:ou|vs|versus|lequel|laquelle|comparer|comparaison|comparatif|differences?|mieux|"
    r"plutot)\b"
)


def asks_to_choose(question: str) -> bool:
    return bool(_CHOOSE.search(fold(question)))


# "Pennylane c'est gratuit ?", like "combien coûte Zelty ?" (a sum), asks for a price.
_ASKS_IF_FREE = re.compile(r"\b(?:gratuite?s?|payante?s?)\b")


def asks_its_price(question: str) -> bool:
    return asked_figure(question) == MONEY or bool(_ASKS_IF_FREE.search(fold(question)))


def asks_what_it_is(question: str) -> bool:
    """ "c'est quoi le FEC ?": an entry whose own question asks this defines a term, and
    answers a broad question about that term as well as an overview would."""
    return bool(_DEFINITION.search(fold(question)))


def _strip_intro(text: str) -> str:
    """The question without its introduction, which may come in several clauses ("bonjour,
    je suis fleuriste, j'ai une boutique à Nantes, …") or be a greeting alone ("Bonjour !
    une appli de messagerie française ?"): each is cut while what is left still says what is
    asked."""
    folded, start = _aligned_fold(text), 0  # the clauses cut so far end at `start`
    for _ in range(MAX_INTRO_CLAUSES):
        match, greeting = _INTRO.match(folded, start), False
        if match is None:
            match, greeting = _LEADING_GREETING.match(folded, start), True
        if match is None:
            break
        words = fold(text[match.end() :]).split()
        content = [w for w in words if w not in EMPTY_WORDS and len(w) > 2]
        # A greeting carries nothing: one word that says what is asked is enough after it.
        needed = MIN_CONTENT_AFTER_A_GREETING if greeting else MIN_FOCUS_CONTENT
        if len(words) < MIN_FOCUS_WORDS or len(content) < needed:
            break  # the introduction carries the question ("j'ai trouvé un faux billet…")
        if not greeting and _REFERS_BACK.search(" ".join(words[:REFERENCE_WINDOW])):
            break  # "j'ai des invendus, je peux les mettre sur Vinted ?": it names them
        start = match.end()
    return text[start:]


def _without_greeting(text: str) -> str:
    match = _LEADING_GREETING.match(_aligned_fold(text))
    return text[match.end() :] if match else text


def _aligned_fold(text: str) -> str:
    """`text` lower-cased, without accents, apostrophes and hyphens as spaces, one character
    for each of `text`'s: "J'ai", "je gère" and "I'm" match the introduction's words, and
    the match's end is an offset in `text`."""
    return "".join(_fold_char(c) for c in text)


_KEPT_PUNCTUATION = frozenset(",.;:!? ")  # the introduction's regular expression reads them


def _fold_char(char: str) -> str:
    if char.isascii():
        return char.lower() if char.isalnum() or char in _KEPT_PUNCTUATION else " "
    if not char.isalnum():
        return " "  # "’", "«"
    plain = strip_accents(char).lower()
    return plain if len(plain) == 1 else char


def _split_questions(text: str) -> tuple[str, str]:
    """Two questions marked with "?": the first, and the rest if it is a question too."""
    parts = [p.strip() for p in re.split(r"(?<=\?)\s+", text) if p.strip()]
    if len(parts) < 2:
        return text, ""
    first, rest = parts[0], " ".join(parts[1:])
    if len(first.split()) < MIN_FOCUS_WORDS or len(rest.split()) < MIN_FOCUS_WORDS:
        return text, ""
    rest = _without_greeting(rest).strip()
    rest = re.sub(r"^(?:et|and|aussi|sinon|autre question)\b[\s,:]*", "", rest, flags=re.I)
    return first, (rest if "?" in rest and len(rest.split()) >= MIN_FOCUS_WORDS else "")
