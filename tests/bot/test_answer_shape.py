"""Reading a message before answering it, and composing the parts of a reply."""

from __future__ import annotations

import pytest

from bot.answers import excerpt, source_label, source_links
from bot.question_shape import asks_where_to_start, is_broad, shape


@pytest.mark.parametrize(
    ("message", "focus", "other"),
    [
        (
            "bonjour, je suis boulangère à Lyon et je voudrais vendre mes gâteaux en ligne, "
            "je commence par quoi ?",
            "je voudrais vendre mes gâteaux en ligne, je commence par quoi ?",
            "",
        ),
        (
            "jsuis coiffeuse, je dois garder combien de temps les factures ?",
            "je dois garder combien de temps les factures ?",
            "",
        ),
        ("je suis perdu", "je suis perdu", ""),  # nothing left to ask without the intro
        # typed on a phone: apostrophes, accents, English
        (
            "J’ai une boulangerie à Lyon, comment faire un site vitrine ?",
            "comment faire un site vitrine ?",
            "",
        ),
        (
            "Je gère une boutique de vêtements, quel logiciel de caisse choisir ?",
            "quel logiciel de caisse choisir ?",
            "",
        ),
        ("I'm a baker in Lyon, how do I sell online?", "how do I sell online?", ""),
        # a greeting alone, before a question
        ("Bonjour ! Un logiciel de caisse français ?", "Un logiciel de caisse français ?", ""),
        ("Bonjour, comment faire un site ?", "comment faire un site ?", ""),
        ("Bonjour, comment ça va ?", "Bonjour, comment ça va ?", ""),  # nothing asked after it
        (
            "Helloasso c'est gratuit pour une association ?",
            "Helloasso c'est gratuit pour une association ?",
            "",
        ),
        (
            "un outil pour les dons en ligne ? Helloasso c'est gratuit pour une asso ?",
            "un outil pour les dons en ligne ?",
            "Helloasso c'est gratuit pour une asso ?",  # no "Hello" cut off the second question
        ),
        # an introduction in several clauses
        (
            "Bonjour, je suis fleuriste à Nantes, je tiens une petite boutique, quel logiciel "
            "de caisse choisir ?",
            "quel logiciel de caisse choisir ?",
            "",
        ),
        (
            "Moi c'est Julie, je gère un salon de coiffure. Comment prendre les rendez-vous en "
            "ligne ?",
            "Comment prendre les rendez-vous en ligne ?",
            "",
        ),
        # the clause that names what is asked about stays ("les" refers back to it)
        (
            "je suis pro, j'ai un stock de vêtements invendus, je peux les mettre sur Vinted ?",
            "j'ai un stock de vêtements invendus, je peux les mettre sur Vinted ?",
            "",
        ),
        (
            "faut il un bandeau cookies ? et combien coute un nom de domaine en .fr ?",
            "faut il un bandeau cookies ?",
            "combien coute un nom de domaine en .fr ?",
        ),
        ("c'est quoi ? bof", "c'est quoi ? bof", ""),  # too short to be two questions
        # a short introduction with no punctuation before the next clause: what follows it
        # is the question, not "ya une appli simple ?" alone (read as "t'es un robot ?")
        (
            "jsuis plombier j ai 40 devis en attente je sais plus lesquels relancer, ya une "
            "appli simple ?",
            "j ai 40 devis en attente je sais plus lesquels relancer, ya une appli simple ?",
            "",
        ),
        (
            "je suis coiffeuse j'ai les numéros de mes clientes, j'ai le droit de leur envoyer "
            "des sms promo ?",
            "j'ai les numéros de mes clientes, j'ai le droit de leur envoyer des sms promo ?",
            "",
        ),
    ],
)
def test_introduction_and_second_question_are_read_apart(
    message: str, focus: str, other: str
) -> None:
    shaped = shape(message)
    assert shaped.focus == focus
    assert shaped.other == other
    assert focus in shaped.asked  # the intent model still reads the introduction


@pytest.mark.parametrize(
    ("question", "broad"),
    [
        ("c quoi le rgpd", True),
        ("les cookies sur mon site, expliquez-moi", True),
        ("par où commencer pour vendre en ligne", True),
        ("newsletter", True),
        ("combien de temps garder les factures", False),
        ("quelle amende si ma caisse n'est pas certifiée", False),
        # the words of a broad question, asking for one precise thing
        ("c quoi le délai pour répondre à un avis", False),
        ("c'est quoi les mentions obligatoires sur une facture", False),
        ("c'est quoi l'amende", False),
        ("je veux me lancer sur insta, c'est quoi les étapes ?", True),
    ],
)
def test_broad_questions_get_an_overview(question: str, broad: bool) -> None:
    assert is_broad(question) is broad


def test_excerpt_cuts_at_a_sentence_and_keeps_lists() -> None:
    text = "**Dix ans** pour les factures. " + "Une phrase de plus. " * 60 + "\n- un point"
    cut = excerpt(text, limit=120)
    assert cut.startswith("Dix ans pour les factures.") and cut.endswith(" …")
    assert len(cut) <= 125 and "**" not in cut
    assert excerpt("Intro.\n- premier\n- second") == "Intro.\n• premier\n• second"


def test_excerpt_ends_at_a_whole_item_not_at_a_wrapped_line_or_a_colon() -> None:
    # A guide's list items are wrapped at about 100 characters: the line's end is no
    # sentence's end, and "Données de carte bancaire : …" would read as a rule cut off.
    item = "- **Durée {}** : trois ans après le dernier achat du client.\n"
    items = "".join(item.format(i) for i in range(8))
    text = items + "- **Données de carte** : supprimées après le paiement, sauf\n  en archive.\n"
    cut = excerpt(text, limit=480)
    assert cut.endswith("client. …") and "carte" not in cut and len(cut) <= 485
    assert excerpt("- **Carte** : supprimée après le paiement, sauf\n  en archive.") == (
        "• Carte : supprimée après le paiement, sauf en archive."
    )
    steps = "".join(f"{i}. Faites l'étape numéro {i} avec soin.\n" for i in range(1, 9))
    assert excerpt(steps, limit=150).endswith("avec soin. …")


def test_sources_name_each_publisher_once() -> None:
    assert source_label("https://www.cnil.fr/fr/cookies") == "CNIL"
    assert source_label("https://entreprendre.service-public.fr/vosdroits/F1") == (
        "Entreprendre.Service-Public"
    )
    assert source_label("https://docs.example.org/page") == "docs.example.org"
    html = source_links(
        ("https://www.cnil.fr/a", "https://www.cnil.fr/b", "https://www.urssaf.fr/c")
    )
    assert html.count("CNIL") == 1 and ">1</a>" in html and ">2</a>" in html
    assert '<a href="https://www.urssaf.fr/c">Urssaf</a>' in html
    assert "&lt;" in source_links(("https://x.fr/<script>",))  # escaped


def test_tools_are_listed_under_the_label_their_data_earns() -> None:
    from types import SimpleNamespace

    from bot.answers import tools_lines
    from bot.texts import text
    from knowledge_base.loader import load_knowledge_base
    from tests.kb.test_validation import CONTENT

    kb, _ = load_knowledge_base(CONTENT)
    turn = SimpleNamespace(t=lambda key, **values: text("fr", key, **values))
    matomo, proton = kb.tools["matomo"], kb.tools["proton-mail"]
    assert not matomo.european and proton.european
    lines = tools_lines(turn, [matomo, proton])  # type: ignore[arg-type]
    assert lines[0].startswith("🇪🇺 Outils européens") and "Proton Mail" in lines[0]
    assert "Matomo" not in lines[0]
    assert lines[1].startswith("🔓 Libres, hébergeables en Europe") and "Matomo" in lines[1]
    unverified = next(t for t in kb.tools.values() if t.country == "FR" and not t.european)
    [other] = tools_lines(turn, [unverified])  # type: ignore[arg-type]
    assert other.startswith("🧭 Autres outils cités") and "(" in other


@pytest.mark.parametrize(
    "message",
    [
        # "j'ai …" that carries the question is not an introduction to cut off
        "j ai trouve un faux billet de 50 dans la caisse, je fais quoi ?",
        "jai google analytics sur le site de la pizzeria, c toujours legal ?",
        "j ai mis le mauvais taux de tva sur une facture envoyee, je la modifie ?",
        # what follows refers back to what it names ("ça", "les")
        "j’ai un NAS dans la réserve pour les sauvegardes, ça compte comme une copie hors site ?",
        "j'ai des invendus de l'été, je peux les vendre sur Vinted ?",
        # nor is "je suis …" when what follows only asks ("comment éviter ça")
        "je suis photographe si mon ordi crame je perds tout, comment eviter ca",
    ],
)
def test_an_introduction_that_carries_the_question_is_kept(message: str) -> None:
    assert shape(message).focus == message


def test_owning_a_business_is_an_introduction() -> None:
    shaped = shape("j ai un petit hotel et je note le numero de carte des clients pour les resas")
    assert shaped.focus == "je note le numero de carte des clients pour les resas"


def _turn(log: dict | None = None):  # type: ignore[no-untyped-def, type-arg]
    """A turn with the real content and texts, for composition rules that need no database."""
    from types import SimpleNamespace

    from bot.texts import text
    from knowledge_base.loader import load_knowledge_base
    from tests.kb.test_validation import CONTENT

    kb, _ = load_knowledge_base(CONTENT)
    return SimpleNamespace(
        kb=kb,
        log={} if log is None else log,
        incoming_message_id=None,
        t=lambda key, **values: text("fr", key, **values),
    )


def _hit(doc_id: str, kind: str, match: float, confidence: float):  # type: ignore[no-untyped-def]
    from knowledge_base.search import Hit

    return Hit(doc_id, kind, doc_id, "", 1.0, (), match=match, confidence=confidence)


def test_a_paraphrase_does_not_overrule_the_faq_entry_ranked_first() -> None:
    """ "une facture pour 30 € à un particulier": the entry on notes to private customers
    ranks first; the neighbouring entry on quotes reads as a closer paraphrase."""
    from bot.answers import _matching_faq

    turn = _turn()
    hits = [
        _hit("facture-note-particulier-25-euros", "faq", 0.9196, 0.97),
        _hit("devis-obligatoire-depannage-batiment", "faq", 0.9208, 0.94),
        _hit("mentions-obligatoires-conservation-factures", "guide", 0.86, 0.82),
    ]
    entry = _matching_faq(turn, hits, broad=False)  # type: ignore[arg-type]
    assert entry is not None and entry.id == "facture-note-particulier-25-euros"


def test_a_paraphrased_faq_entry_still_beats_a_guide_ranked_first() -> None:
    from bot.answers import _matching_faq

    turn = _turn()
    hits = [
        _hit("reforme-facturation-electronique-calendrier", "guide", 0.91, 0.99),
        _hit("fe-reception-obligatoire-depuis-septembre-2026", "faq", 0.965, 0.99),
    ]
    entry = _matching_faq(turn, hits, broad=True)  # type: ignore[arg-type]
    assert entry is not None and entry.id == "fe-reception-obligatoire-depuis-septembre-2026"
    assert _matching_faq(turn, hits[:1], broad=False) is None  # type: ignore[arg-type]


def test_a_sure_answer_under_an_unsure_intent_takes_the_paraphrased_faq_entry() -> None:
    """The intent model is unsure, the ranker sure of a guide, and the merchant asked an FAQ
    entry's question: the entry (which states the figure) answers, as it would have had the
    intent model been sure."""
    import numpy as np

    from bot.answers import SURE_WHEN_INTENT_UNSURE, sure_answer

    log: dict[str, object] = {}
    turn = _turn(log)
    hits = [
        _hit("sauvegarder-donnees-entreprise", "guide", 0.87, 0.99),
        _hit("sauvegarde-frequence-commerce", "faq", 0.95, 0.98),
    ]
    question = "toutes mes resas sont sur l ordi, je le sauvegarde tous les combien ?"
    [reply] = sure_answer(turn, question, np.zeros(4), hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert log["faq"] == "sauvegarde-frequence-commerce" and log["answered"] is True
    assert turn.kb.faq["sauvegarde-frequence-commerce"].question in reply.html


def test_a_paraphrase_does_not_overrule_a_guide_the_ranker_is_far_surer_of() -> None:
    """ "un fournisseur m'envoie un nouveau RIB, je fais le virement ?" reads like the entry
    on a transfer already made to a crook; the ranker is far surer of the guide on fake RIBs.
    When the two are close, the paraphrased entry still wins."""
    from bot.answers import _matching_faq

    turn = _turn()
    guide = _hit("fraude-faux-virement-changement-rib", "guide", 0.91, 0.9998)
    entry = _hit("virement-escroc-que-faire", "faq", 0.937, 0.98)
    assert _matching_faq(turn, [guide, entry], broad=False) is None  # type: ignore[arg-type]
    close = _hit("virement-escroc-que-faire", "faq", 0.937, 0.9995)
    found = _matching_faq(turn, [guide, close], broad=False)  # type: ignore[arg-type]
    assert found is not None and found.id == "virement-escroc-que-faire"


def test_where_to_start_takes_the_plan_the_ranker_rates_nearly_as_likely_as_the_first() -> None:
    """ "je voudrais vendre mes gâteaux en ligne, je commence par quoi ?": a guide and the
    plan tied at the top, the guide a hair ahead: the plan answers. Not a plan the ranker
    rates far lower, nor one ranked fourth, nor one below another item when no ranker rated
    them; a plan ranked first always answers."""
    from bot.answers import PLAN_LOGIT_GAP, _logit, _plan_near_first

    turn = _turn()
    guide = _hit("boutique-en-ligne-ou-marketplace", "guide", 0.9, 0.978)
    other = _hit("obligations-legales-vente-en-ligne", "guide", 0.9, 0.97)
    tied = _hit("vendre-en-ligne", "checklist", 0.9, 0.978)
    found = _plan_near_first(turn, [guide, other, tied])  # type: ignore[arg-type]
    assert found is not None and found.id == "vendre-en-ligne"
    far = _hit("vendre-en-ligne", "checklist", 0.9, 0.7)
    assert _logit(0.978) - _logit(0.7) > PLAN_LOGIT_GAP
    assert _plan_near_first(turn, [guide, far]) is None  # type: ignore[arg-type]
    fourth = [guide, other, _hit("livraison-commandes-en-ligne", "guide", 0.9, 0.978), tied]
    assert _plan_near_first(turn, fourth) is None  # type: ignore[arg-type]
    unranked = [_hit(h.id, h.kind, 0.9, 0.0) for h in (guide, tied)]
    assert _plan_near_first(turn, unranked) is None  # type: ignore[arg-type]
    # A plan ranked first answers with or without the ranker's probabilities.
    first = _plan_near_first(turn, unranked[::-1])  # type: ignore[arg-type]
    assert first is not None and first.id == "vendre-en-ligne"
    doubted = _plan_near_first(turn, [far, guide])  # type: ignore[arg-type]
    assert doubted is not None and doubted.id == "vendre-en-ligne"


@pytest.mark.parametrize(
    ("question", "defines"),
    [
        ("C'est quoi le FEC et suis-je concerné ?", True),
        ("le fec c est quoi, mon comptable m en parle", True),
        ("qu'est-ce qu'une AIPD ?", True),
        ("Où me former gratuitement au RGPD ?", False),
        ("qu'est ce qu'il faut mettre dans un sms promo ?", False),
    ],
)
def test_a_question_that_asks_what_something_is(question: str, defines: bool) -> None:
    from bot.question_shape import asks_what_it_is

    assert asks_what_it_is(question) is defines


def test_comment_faire_is_broad_only_when_nothing_narrower_follows() -> None:
    assert is_broad("une carte de fidélité sur le téléphone, comment faire ?")
    assert is_broad("comment faire pour vendre en ligne")
    assert not is_broad("tiktok a supprimé mon compte pro, comment faire appel")


def test_a_broad_question_gets_the_overview_not_a_neighbouring_entry() -> None:
    """ "c'est quoi le RGPD ?": the entry on free RGPD training reads as a close paraphrase
    but answers another question; the guide ranked first gives the overview."""
    from bot.answers import _matching_faq

    turn = _turn()
    hits = [
        _hit("rgpd-essentiel-tpe", "guide", 0.911, 0.99),
        _hit("ft-formation-rgpd-gratuite-cnil", "faq", 0.933, 0.98),  # within the log-odds gap
    ]
    assert _matching_faq(turn, hits, broad=True) is None  # type: ignore[arg-type]
    found = _matching_faq(turn, hits, broad=False)  # type: ignore[arg-type]
    assert found is not None and found.id == "ft-formation-rgpd-gratuite-cnil"


def test_a_broad_question_takes_the_entry_ranked_first_that_defines_the_term() -> None:
    from bot.answers import _matching_faq

    turn = _turn()
    hits = [
        _hit("fec-fichier-ecritures-comptables-c-est-quoi", "faq", 0.90, 0.95),
        _hit("logiciel-facturation-choisir", "guide", 0.85, 0.60),
    ]
    entry = _matching_faq(turn, hits, broad=True)  # type: ignore[arg-type]
    assert entry is not None and entry.id == "fec-fichier-ecritures-comptables-c-est-quoi"


def test_a_sure_answer_to_a_broad_question_prefers_the_overview() -> None:
    """Under an unsure intent the ranker's first item answers, unless the question is broad
    and that item is an entry that defines nothing: then the guide among the best three."""
    import numpy as np

    from bot.answers import SURE_WHEN_INTENT_UNSURE, sure_answer

    log: dict[str, object] = {}
    turn = _turn(log)
    hits = [
        _hit("amende-cnil-petite-entreprise", "faq", 0.88, 0.97),
        _hit("rgpd-essentiel-tpe", "guide", 0.86, 0.90),
    ]
    question = "le rgpd c quoi en gros"
    [reply] = sure_answer(turn, question, np.zeros(4), hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert log["guide"] == "rgpd-essentiel-tpe" and "faq" not in log
    assert turn.kb.guides["rgpd-essentiel-tpe"].summary.split()[0] in reply.html
    log.clear()
    sure_answer(turn, "combien risque une tpe", np.zeros(4), hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert log["faq"] == "amende-cnil-petite-entreprise"


@pytest.mark.parametrize(
    ("question", "plan"),
    [
        ("je voudrais vendre mes gâteaux en ligne, je commence par quoi ?", True),
        ("sécuriser l'informatique du commerce, par où commencer ?", True),
        ("accepter la carte en boutique, les étapes", True),
        ("je veux quitter les outils américains, par où je commence", True),
        ("c'est quoi le RGPD ?", False),
        ("combien de temps garder les factures", False),
    ],
)
def test_where_to_start_questions_ask_for_a_plan(question: str, plan: bool) -> None:
    assert asks_where_to_start(question) is plan


def test_a_plan_shows_the_goal_and_first_steps_and_starts_in_one_press() -> None:
    from bot.answers import FIRST_STEPS, checklist_answer

    log: dict[str, object] = {}
    turn = _turn(log)
    checklist = turn.kb.checklists["vendre-en-ligne"]
    reply = checklist_answer(turn, checklist)  # type: ignore[arg-type]
    assert reply.html.startswith(f"<b>{checklist.title}</b>") and checklist.goal in reply.html
    shown = [step.title in reply.html for step in checklist.steps]
    assert shown == [True] * FIRST_STEPS + [False] * (len(checklist.steps) - FIRST_STEPS)
    assert f"{len(checklist.steps) - FIRST_STEPS} autres étapes" in reply.html
    data = [button.data for row in reply.buttons for button in row]
    assert data[0] == "ck:o:vendre-en-ligne"
    assert f"gd:{checklist.steps[0].guides[0]}" in data
    assert log == {"answered": True, "checklist": "vendre-en-ligne"}


def test_an_unrelated_guide_further_down_does_not_replace_the_faq_entry() -> None:
    """A broad question on a bounced cheque: the entry on it ranks first, a guide on instant
    transfers third, far less likely to answer. The entry answers; a guide about as likely as
    the entry still gives its overview."""
    import numpy as np

    from bot.answers import SURE_WHEN_INTENT_UNSURE, _overview_instead, sure_answer

    log: dict[str, object] = {}
    turn = _turn(log)
    entry = _hit("paiement-cheque-sans-provision-que-faire", "faq", 0.90, 0.96)
    other = _hit("paiement-cheque-duree-validite", "faq", 0.86, 0.55)
    far = _hit("virement-instantane-et-wero", "guide", 0.85, 0.40)
    question = "cheque sans provision, expliquez-moi"
    assert _overview_instead(turn, [entry, other, far], broad=True) is None  # type: ignore[arg-type]
    sure_answer(turn, question, np.zeros(4), [entry, other, far], SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert log["faq"] == "paiement-cheque-sans-provision-que-faire" and "guide" not in log
    close = _hit("virement-instantane-et-wero", "guide", 0.85, 0.93)
    found = _overview_instead(turn, [entry, other, close], broad=True)  # type: ignore[arg-type]
    assert found is not None and found.id == "virement-instantane-et-wero"


def test_a_confident_intent_keeps_the_entry_over_an_unrelated_guide() -> None:
    """The same rule on the path of a confident intent ("fait maison" under the entry on it,
    a guide on loyalty cards far less likely to answer)."""
    from types import SimpleNamespace

    import numpy as np

    from bot.answers import answer_question

    log: dict[str, object] = {}
    turn = _turn(log)
    hits = [
        _hit("mention-fait-maison-restaurant", "faq", 0.886, 0.94),
        _hit("carte-fidelite-numerique", "guide", 0.873, 0.49),
    ]
    turn.services = SimpleNamespace(search=SimpleNamespace(search=lambda *a, **k: hits))
    parse = SimpleNamespace(
        intent="ask_marketing",
        entity_values=lambda name: [],
        intent_scores=lambda: {"ask_marketing": 0.9},
    )
    question = "qu'est ce qu'il faut pour mettre fait maison sur la carte ?"
    answer_question(turn, question, np.zeros(4), parse)  # type: ignore[arg-type]
    assert log["faq"] == "mention-fait-maison-restaurant" and "guide" not in log


@pytest.mark.parametrize(
    ("message", "asks"),
    [
        ("ouvrir le dimanche j ai le droit", True),
        ("au revoir, c'est légal de fermer le lundi ?", True),
        ("bon dimanche", False),
        ("je dois filer, à plus", False),
        ("faut que j'y aille", False),
        ("je vous recontacte plus tard, au revoir", False),
        ("je peux y aller merci au revoir", False),
        ("bon ben c'est tout quoi, au revoir", False),
        ("merci je reviendrai quand j'aurai fini", False),
        ("quelle aide précieuse, merci au revoir", False),
        ("combien de temps ouvert le dimanche", True),
    ],
)
def test_a_message_that_asks_something(message: str, asks: bool) -> None:
    from bot.question_shape import asks_something

    assert asks_something(message) is asks


def test_where_to_start_takes_the_entry_ranked_first_that_says_what_to_do() -> None:
    """ "ma boîte mail pro a été piratée, … je commence par quoi" is broad ("commence par
    quoi") but the entry ranked first asks "que faire ?": its first steps answer, not the
    overview of the neighbouring guide on phishing. A broad question that does not ask where
    to start keeps the overview."""
    import numpy as np

    from bot.answers import SURE_WHEN_INTENT_UNSURE, _matching_faq, _overview_instead, sure_answer

    log: dict[str, object] = {}
    turn = _turn(log)
    hits = [
        _hit("messagerie-piratee-que-faire", "faq", 0.93, 0.97),
        _hit("reconnaitre-hameconnage", "guide", 0.88, 0.95),
    ]
    entry = _matching_faq(turn, hits, broad=True, plan=True)  # type: ignore[arg-type]
    assert entry is not None and entry.id == "messagerie-piratee-que-faire"
    assert _matching_faq(turn, hits, broad=True, plan=False) is None  # type: ignore[arg-type]
    assert _overview_instead(turn, hits, broad=True, plan=True) is None  # type: ignore[arg-type]
    question = "ma boite mail pro a ete piratee, elle envoie des spams, je commence par quoi"
    sure_answer(turn, question, np.zeros(4), hits, SURE_WHEN_INTENT_UNSURE)  # type: ignore[arg-type]
    assert log["faq"] == "messagerie-piratee-que-faire" and "guide" not in log
    # An entry that does not say what to do still gives way to the overview.
    other = [_hit("amende-cnil-petite-entreprise", "faq", 0.88, 0.97), hits[1]]
    assert _matching_faq(turn, other, broad=True, plan=True) is None  # type: ignore[arg-type]


def _alternative_turn(hits, tools: list[str]):  # type: ignore[no-untyped-def]
    """A turn whose search returns `hits` and whose intent is find_alternative."""
    from types import SimpleNamespace

    log: dict[str, object] = {}
    turn = _turn(log)
    turn.services = SimpleNamespace(search=SimpleNamespace(search=lambda *a, **k: hits))
    parse = SimpleNamespace(
        intent="find_alternative",
        entities=[],
        entity_values=lambda name: tools if name == "tool" else [],
        intent_scores=lambda: {"find_alternative": 0.9},
    )
    return turn, parse, log


def test_a_question_about_a_named_tool_gets_the_entry_written_on_it() -> None:
    """ "wix c américain ?" names a tool the catalogue replaces, but asks about it: tools rank
    first (the flow of alternatives), yet the entry whose question names Wix answers (it says
    Wix is Israeli). Asking for a replacement still gets the list of tools, and so does an
    entry the ranker doubts."""
    import numpy as np

    from bot.answers import ABSTAIN_BELOW, answer_question
    from bot.question_shape import asks_for_alternative

    tools = [_hit("sitew", "tool", 0.0, 0.96), _hit("jimdo", "tool", 0.0, 0.95)]
    trusted = ABSTAIN_BELOW + 0.02  # the ranker trusts the entry, a little
    hits = [*tools, _hit("wix-europeen-alternatives", "faq", 0.945, trusted)]
    turn, parse, log = _alternative_turn(hits, ["Wix"])
    [reply] = answer_question(turn, "wix c americain ?", np.zeros(4), parse)  # type: ignore[arg-type]
    assert log["faq"] == "wix-europeen-alternatives" and "israélien" in reply.html
    turn, parse, log = _alternative_turn(hits, ["Wix"])
    answer_question(turn, "une alternative a wix", np.zeros(4), parse)  # type: ignore[arg-type]
    assert "faq" not in log and log["tools"]
    doubted = [*tools, _hit("wix-europeen-alternatives", "faq", 0.945, ABSTAIN_BELOW - 0.1)]
    turn, parse, log = _alternative_turn(doubted, ["Wix"])
    answer_question(turn, "wix c americain ?", np.zeros(4), parse)  # type: ignore[arg-type]
    assert "faq" not in log and log["tools"]
    assert asks_for_alternative("un équivalent européen à Teams ?")
    assert asks_for_alternative("quoi à la place de zoom")
    assert not asks_for_alternative("wix c'est américain ?")


def test_where_to_start_under_the_flow_of_alternatives_gets_the_plan_ranked_first() -> None:
    """ "je veux quitter les outils américains, par où je commence": the checklist ranked
    first gives its first steps, not tools found by the shared words (awork). Without
    "par où commencer", tools still answer."""
    import numpy as np

    from bot.answers import answer_question

    hits = [
        _hit("quitter-outils-americains", "checklist", 0.90, 0.95),
        _hit("awork", "tool", 0.80, 0.30),
        _hit("sitew", "tool", 0.79, 0.20),
    ]
    turn, parse, log = _alternative_turn(hits, [])
    question = "je veux quitter les outils americains, par ou je commence"
    [reply] = answer_question(turn, question, np.zeros(4), parse)  # type: ignore[arg-type]
    assert log == {
        "hits": [{"id": h.id, "kind": h.kind, "score": h.score} for h in hits],
        "answered": True,
        "checklist": "quitter-outils-americains",
    }
    assert turn.kb.checklists["quitter-outils-americains"].goal in reply.html
    turn, parse, log = _alternative_turn(hits, [])
    answer_question(turn, "des outils pas americains", np.zeros(4), parse)  # type: ignore[arg-type]
    assert log["tools"] == ["awork", "sitew"]


def test_a_request_for_tools_with_no_tool_in_the_ranking_is_answered_as_a_question() -> None:
    """ "un plan pour passer sur des logiciels européens": read as a request for tools, but
    no tool is named and none ranks anywhere in the depth searched. The plan the ranker
    trusts answers, as on every other topic, not "no reliable answer"; a doubted best item
    gets the unsure turn. A named tool the catalogue does not know is still said by name."""
    import numpy as np

    from bot.answers import ABSTAIN_BELOW, answer_question

    plan = _hit("quitter-outils-americains", "checklist", 0.90, ABSTAIN_BELOW + 0.1)
    entry = _hit("gestionnaire-mots-de-passe-europeen", "faq", 0.70, 0.30)
    turn, parse, log = _alternative_turn([plan, entry], [])
    question = "un plan pour passer sur des logiciels europeens"
    [reply] = answer_question(turn, question, np.zeros(4), parse)  # type: ignore[arg-type]
    assert log["answered"] is True and log["checklist"] == "quitter-outils-americains"
    assert turn.kb.checklists["quitter-outils-americains"].goal in reply.html
    doubted = [_hit("quitter-outils-americains", "checklist", 0.90, ABSTAIN_BELOW - 0.3), entry]
    turn, parse, log = _alternative_turn(doubted, [])
    flows: list[str] = []
    turn.set_flow = lambda name, **_state: flows.append(name)
    parse.ranking = []  # the intents offered after the candidates: none here
    replies = answer_question(turn, question, np.zeros(4), parse)  # type: ignore[arg-type]
    assert flows == ["clarify"] and "checklist" not in log and "tools" not in log
    assert any(b.data.startswith("cl:") for r in replies for row in r.buttons for b in row)
    turn, parse, log = _alternative_turn([plan, entry], ["Airtable"])
    [reply] = answer_question(turn, "une alternative a airtable", np.zeros(4), parse)  # type: ignore[arg-type]
    assert log["answered"] is False and "Airtable" in reply.html
