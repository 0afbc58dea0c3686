"""The intent names: a contract shared with analytics, routing, evaluation and the admin UI.

Mirrors `shared/spec/intents.yml` (a test checks they agree). Add names, never rename.
"""

from __future__ import annotations

ASK_INTENTS: tuple[str, ...] = (
    "ask_sell_online",
    "ask_payment",
    "ask_website",
    "ask_local_visibility",
    "ask_social_media",
    "ask_marketing",
    "ask_gdpr",
    "ask_einvoicing",
    "ask_cybersecurity",
    "ask_management_tools",
    "ask_funding_training",
    "find_alternative",
)
CONTROL_INTENTS: tuple[str, ...] = (
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "bot_challenge",
    "human_handoff",
    "start_diagnostic",
    "start_checklist",
    "out_of_scope",
)
ALL_INTENTS: tuple[str, ...] = ASK_INTENTS + CONTROL_INTENTS
# Topics that have guides (every ask_* but find_alternative, answered from the tools).
GUIDE_TOPICS: tuple[str, ...] = tuple(i for i in ASK_INTENTS if i.startswith("ask_"))

TOPIC_LABELS: dict[str, str] = {
    "ask_sell_online": "Vendre en ligne",
    "ask_payment": "Paiement",
    "ask_website": "Site internet",
    "ask_local_visibility": "Visibilité locale",
    "ask_social_media": "Réseaux sociaux",
    "ask_marketing": "Fidélisation et marketing",
    "ask_gdpr": "RGPD et données",
    "ask_einvoicing": "Facturation et caisse",
    "ask_cybersecurity": "Cybersécurité",
    "ask_management_tools": "Outils de gestion",
    "ask_funding_training": "Aides et formation",
    "find_alternative": "Outils européens",
}
