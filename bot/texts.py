"""Everything the merchant reads that is not knowledge-base content: French first, English when
Telegram says the merchant's language is English. Placeholders are filled with escaped values.
"""

from __future__ import annotations

FR: dict[str, str] = {
    "welcome": (
        "Bonjour{name} 👋 Je suis <b>Comptoir</b>, l'assistant numérique des commerçants, "
        "artisans et petites entreprises.\n\n"
        "Posez-moi vos questions sur la vente en ligne, le paiement, votre site, les réseaux "
        "sociaux, le RGPD, la facture électronique, la cybersécurité… Je réponds à partir de "
        "guides vérifiés, avec leurs sources, et je vous propose d'abord des outils français et "
        "européens.\n\n"
        "Comptoir est <b>indépendant</b> : aucun lien commercial avec les outils cités.\n\n"
        "Pour mieux vous répondre, deux questions rapides (facultatives) :"
    ),
    "profile_trade": "Quel est votre métier ?",
    "profile_online": "Vendez-vous déjà en ligne ?",
    "profile_trade_noted": "<i>✓ Métier : {trade}</i>",
    "profile_done": (
        "Merci, c'est noté. Écrivez-moi votre question, ou essayez :\n"
        "• /diagnostic : faire le point sur votre numérique (5 minutes)\n"
        "• /checklists : avancer étape par étape"
    ),
    "profile_skipped": (
        "Pas de souci. Écrivez-moi votre question quand vous voulez, ou tapez /aide."
    ),
    "help": (
        "<b>Ce que je sais faire</b>\n"
        "• Répondre à vos questions sur le numérique de votre commerce, avec les sources\n"
        "• Proposer des alternatives européennes à un outil (ex. « une alternative à Gmail »)\n"
        "• /diagnostic : évaluer votre commerce et obtenir un plan personnalisé\n"
        "• /checklists : suivre un plan étape par étape ; /progression : où vous en êtes\n"
        "• /humain : demander un conseiller\n"
        "• /actus : recevoir ou non les actualités de votre conseiller\n"
        "• /mesdonnees : recevoir vos données ; /oublier : tout effacer\n\n"
        "Écrivez simplement, même en abrégé : je comprends les fautes de frappe."
    ),
    "greet": "Bonjour{name} ! Quelle est votre question ?",
    "goodbye": "Au revoir et bonne journée ! Je reste disponible ici quand vous voulez.",
    "thanks": "Avec plaisir ! N'hésitez pas si vous avez une autre question.",
    "affirm": "Très bien. Dites-moi sur quoi vous voulez avancer, ou tapez /aide.",
    "deny": "D'accord. Je reste disponible si besoin.",
    "bot_challenge": (
        "Je suis un assistant automatique (un robot), pas une personne. Je réponds à partir "
        "de guides vérifiés. Pour parler à un conseiller, tapez /humain."
    ),
    "out_of_scope": (
        "Je suis spécialisé dans le numérique des commerces et petites entreprises : vente en "
        "ligne, paiement, site, réseaux sociaux, RGPD, facturation, sécurité… Posez-moi une "
        "question sur ces sujets, ou tapez /aide."
    ),
    "clarify": "Je ne suis pas sûr d'avoir compris. Votre question porte-t-elle sur :",
    "clarify_candidates": (
        "Je ne suis pas sûr d'avoir compris. Vouliez-vous dire l'une de ces réponses ? "
        "Sinon, choisissez un thème ou demandez un conseiller."
    ),
    "clarify_preview": (
        "Je ne suis pas sûr d'avoir compris. La réponse la plus proche, « {title} », dit :\n\n"
        "<i>« {sentence} »</i>\n{sources}\n\n"
        "Vouliez-vous dire l'une de ces réponses ? Sinon, choisissez un thème ou demandez un "
        "conseiller."
    ),
    "other_question": "Vous demandiez aussi : « {question} »",
    "other_question_button": "➡️ Répondre à cette question",
    "runner_up": "Une fiche voisine, au cas où elle vous concerne :",
    "passage_from": "Extrait du guide « {title} » — {section}",
    "read_full_guide": "📖 Lire le guide complet",
    "see_faq": "❓ {question}",
    "handoff_confirm": "Voulez-vous qu'un conseiller vous réponde ici ?",
    "handoff_confirm_yes": "Oui, un conseiller",
    "handoff_confirm_no": "Non, je continue",
    "handoff_declined": "D'accord, je continue. Quelle est votre question ?",
    "clarify_human": "Parler à un conseiller",
    "clarify_far": (
        "Je n'ai pas de fiche qui réponde exactement à cette question. Elle porte peut-être sur :"
    ),
    "clarify_far_candidates": (
        "Je n'ai pas de fiche qui réponde exactement à cette question. L'une de celles-ci "
        "peut-elle aider ? Sinon, choisissez un thème ou demandez un conseiller."
    ),
    "no_answer": (
        "Je n'ai pas encore de réponse fiable à cette question. Je la transmets à l'équipe "
        "pour enrichir mes guides. En attendant, vous pouvez demander un conseiller avec /humain."
    ),
    "in_practice": "En pratique",
    "sources": "Source",
    "sources_plural": "Sources",
    "eu_tools": "Outils européens",
    "libre_tools": "Libres, hébergeables en Europe",
    "verified_on": "vérifié le {date}",
    "read_guide": "📖 Lire le guide : {title}",
    "first_steps": "Les premières étapes",
    "checklist_step": "📋 Étape {n} sur {total} de la checklist « {title} »",
    "more_steps": "… puis {count} autres étapes, à votre rythme : je garde votre progression.",
    "start_checklist": "▶️ Commencer : {title}",
    "libre_note": "éditeur hors d'Europe, logiciel libre hébergeable en Europe",
    "other_tools": "Autres outils cités",
    "non_eu_owner": "éditeur ou maison mère hors d'Europe",
    "non_eu_hosting": "hébergement hors d'Europe",
    "hosting_unverified": "lieu d'hébergement non vérifié",
    "open_checklist": "📋 Checklist : {title}",
    "more_answers": "Voir aussi : {title}",
    "feedback_up": "👍 Utile",
    "feedback_down": "👎 Pas utile",
    "feedback_thanks_up": "Merci pour votre retour !",
    "feedback_thanks_down": (
        "Merci, c'est noté : l'équipe va améliorer cette réponse. Vous pouvez reformuler votre "
        "question ou demander un conseiller avec /humain."
    ),
    "alternatives_to": "Des alternatives européennes à <b>{tool}</b> :",
    "alternatives_generic": "Des outils européens qui peuvent vous convenir :",
    "alternatives_itself": "<b>{tool}</b> est dans mon catalogue, avec des outils proches :",
    "alternatives_itself_alone": "<b>{tool}</b> est dans mon catalogue :",
    "tools_compared": "Les outils que vous comparez, côte à côte :",
    "alternatives_unknown": (
        "Je ne connais pas encore d'alternative à <b>{tool}</b> dans mon catalogue. Voici ce "
        "qui s'en rapproche :"
    ),
    "tool_unknown_closest": (
        "<b>{tool}</b> n'est pas dans mon catalogue. Voici ce qui s'en rapproche :"
    ),
    "tool_unknown": (
        "<b>{tool}</b> n'est pas dans mon catalogue, et je n'y ai pas encore d'équivalent. Je "
        "transmets votre question à l'équipe ; en attendant, vous pouvez demander un conseiller "
        "avec /humain."
    ),
    "alternatives_none": (
        "Je ne connais pas encore d'alternative à <b>{tool}</b> dans mon catalogue. Je "
        "transmets votre question à l'équipe ; en attendant, vous pouvez demander un conseiller "
        "avec /humain."
    ),
    "free_tier": "offre gratuite",
    "open_source": "open source",
    "hosted_in": "hébergé : {where}",
    "website": "site",
    "good_for": "👥 Pour qui : {who}",
    "move_off_us": "📋 Checklist : passer à des outils européens",
    "unsupported": (
        "Je ne sais lire que les messages écrits pour le moment. Écrivez votre question en "
        "quelques mots et je vous réponds."
    ),
    "edited": (
        "J'ai vu que vous avez modifié un message. Renvoyez plutôt votre question dans un "
        "nouveau message, je vous réponds aussitôt."
    ),
    "too_long": (
        "Votre message est très long : j'ai lu le début pour vous répondre. Pour une réponse "
        "plus précise, posez une question à la fois."
    ),
    "flood": (
        "Doucement 🙂 je reçois beaucoup de messages d'un coup. Je réponds à nouveau dans "
        "quelques secondes ; vos messages sont bien enregistrés."
    ),
    "stale_button": ("Ce bouton n'est plus valable (le contenu a peut-être changé entre-temps)."),
    "unknown_command": "Je ne connais pas cette commande. Tapez /aide pour voir ce que je sais faire.",
    "handoff_started": (
        "C'est noté : un conseiller va vous répondre ici même, en général sous un jour ouvré. "
        "D'ici là je ne réponds plus automatiquement dans cette conversation. Vous pouvez "
        "continuer à écrire : le conseiller lira tout."
    ),
    "handoff_already": "Votre demande est déjà transmise : un conseiller vous répondra ici.",
    "handoff_cancel": "Annuler la demande",
    "handoff_cancelled": "Demande annulée : je reprends la conversation. Quelle est votre question ?",
    "handoff_back": "Le conseiller vous a répondu et me repasse la main. Je reste à votre disposition !",
    "staff_message": "💬 <b>Message d'un conseiller</b>\n{text}",
    "export_caption": (
        "Voici toutes les données que Comptoir conserve sur vous, dans un fichier JSON. "
        "Elles sont effacées automatiquement au-delà de la durée de conservation, ou "
        "immédiatement avec /oublier."
    ),
    "forget_confirm": (
        "Voulez-vous vraiment effacer <b>toutes</b> vos données (profil, conversations, "
        "progression, diagnostics) ? C'est définitif."
    ),
    "forget_yes": "Oui, tout effacer",
    "forget_no": "Non, annuler",
    "forget_done": (
        "C'est fait : toutes vos données ont été effacées. Si vous m'écrivez à nouveau, "
        "je repartirai de zéro."
    ),
    "forget_cancelled": "Rien n'a été effacé.",
    "news_question": (
        "Souhaitez-vous recevoir <b>les actualités de votre conseiller</b> (1 à 2 messages par "
        "mois) ? Vous pourrez arrêter à tout moment avec /actus."
    ),
    "news_yes": "Oui, volontiers",
    "news_no": "Non merci",
    "news_on": (
        "C'est noté : vous recevrez les actualités de votre conseiller (1 à 2 messages par "
        "mois). Pour arrêter : /actus non."
    ),
    "news_off": (
        "C'est noté : vous ne recevrez pas les actualités de votre conseiller. Pour les "
        "recevoir : /actus oui."
    ),
    "news_state_on": (
        "Vous recevez les actualités de votre conseiller (1 à 2 messages par mois), depuis "
        "le {date}."
    ),
    "news_state_off": (
        "Vous ne recevez pas les actualités de votre conseiller (1 à 2 messages par mois)."
    ),
    "news_switch_on": "Recevoir les actualités",
    "news_switch_off": "Ne plus recevoir",
    "news_stop_line": (
        "<i>Vous recevez ce message car vous avez accepté les actualités de votre conseiller. "
        "Pour ne plus les recevoir : bouton ci-dessous ou /actus non.</i>"
    ),
    "news_stop": "Ne plus recevoir",
    "store_down": (
        "Désolé, je rencontre un problème technique passager et je ne peux pas répondre tout "
        "de suite. Réessayez dans quelques minutes : votre message n'est pas perdu."
    ),
    "error": (
        "Désolé, quelque chose s'est mal passé de mon côté. Réessayez dans un instant ou "
        "tapez /aide."
    ),
    # Checklists
    "checklists_title": "<b>Checklists</b> : choisissez un plan à suivre étape par étape.",
    "checklist_progress": "{done}/{total} étapes",
    "checklist_intro": "<b>{title}</b>\n🎯 {goal}\n{count} étapes. On commence ?",
    "step": (
        "<b>Étape {n}/{total} : {title}</b>\n\n<b>Pourquoi</b> : {why}\n\n"
        "<b>Comment</b> : {how}\n\n⏱ {time}"
    ),
    "step_explain": "<b>C'est fait quand</b> : {done_when}",
    "step_guides": "📚 À lire : {links}",
    "step_tools": "🇪🇺 Outils : {links}",
    "btn_done": "Fait ✅",
    "btn_later": "Plus tard",
    "btn_explain": "Expliquer",
    "btn_skip": "Passer",
    "btn_start": "Commencer",
    "btn_remind": "🔔 Me le rappeler dans 3 jours",
    "remind_set": "D'accord, je vous le rappellerai dans 3 jours. Vous pourrez reprendre avec /checklists.",
    "reminder": "🔔 Petit rappel : il vous reste {left} étape(s) dans « {title} ».",
    "btn_resume": "Reprendre",
    "checklist_finished": (
        "🎉 Bravo, vous avez terminé « {title} » ! Consultez /progression ou choisissez une "
        "autre checklist avec /checklists."
    ),
    "progress_title": "<b>Votre progression</b>",
    "progress_none": "Vous n'avez pas encore commencé de checklist. Tapez /checklists pour en choisir une.",
    # Above the next step, in place of the step just pressed (Telegram edits it).
    "step_noted_done": "<i>✅ Étape {n} faite : {title}</i>",
    "step_noted_skipped": "<i>⏭ Étape {n} passée : {title}</i>",
    "step_noted_later": "<i>⏸ Étape {n} notée pour plus tard : {title}</i>",
    # Diagnostic
    "diag_intro": "<b>{title}</b>\n{intro}",
    "diag_question": "<b>Question {n}/{total}</b>\n{text}",
    "diag_answered": "<i>✓ Question {n} : {answer}</i>",
    "diag_resume": "Vous aviez commencé le diagnostic : on reprend où vous en étiez.",
    "diag_result": "<b>Votre diagnostic numérique</b>",
    "diag_overall": "Score global : <b>{score}/100</b>",
    "diag_compare": "Depuis votre dernier diagnostic : {delta}",
    "diag_plan": "<b>Votre plan</b> : commencez par",
    "diag_all_good": "Toutes vos notes sont solides : bravo ! Refaites le diagnostic dans six mois.",
    "diag_unavailable": "Le diagnostic n'est pas disponible pour le moment.",
    "diagnostic_hint": "Pour évaluer le numérique de votre commerce en 5 minutes : /diagnostic",
}

EN: dict[str, str] = {
    "welcome": (
        "Hello{name} 👋 I'm <b>Comptoir</b>, the digital assistant for shopkeepers, craftspeople "
        "and small businesses in France.\n\nAsk me about selling online, payments, your website, "
        "social media, GDPR, e-invoicing, cybersecurity… I answer from verified guides (in "
        "French), with sources, and suggest French and European tools first.\n\nComptoir is "
        "<b>independent</b>: no commercial ties with the tools it mentions.\n\n"
        "Two quick optional questions:"
    ),
    "profile_trade": "What is your trade?",
    "profile_online": "Do you already sell online?",
    "profile_trade_noted": "<i>✓ Trade: {trade}</i>",
    "profile_done": "Thanks! Ask me anything, or try /diagnostic or /checklists.",
    "profile_skipped": "No problem. Ask me anything, or type /aide for help.",
    "help": (
        "<b>What I can do</b>\n• Answer questions about going digital, with sources\n"
        '• Suggest European alternatives to a tool (e.g. "an alternative to Gmail")\n'
        "• /diagnostic: assess your business and get a plan\n"
        "• /checklists: step-by-step plans; /progression: your progress\n"
        "• /humain: ask for a human adviser\n• /actus: your adviser's news, on or off\n"
        "• /mesdonnees: get your data; /oublier: erase it"
    ),
    "greet": "Hello{name}! What is your question?",
    "goodbye": "Goodbye and have a nice day!",
    "thanks": "You're welcome! Any other question?",
    "bot_challenge": "I'm an automated assistant (a bot). To talk to a person, type /humain.",
    "out_of_scope": (
        "I specialise in helping small businesses go digital: selling online, payments, "
        "websites, social media, GDPR, invoicing, security… Ask me about those, or type /aide."
    ),
    "clarify": "I'm not sure I understood. Is your question about:",
    "clarify_human": "Talk to an adviser",
    "clarify_far": "I have no guide that answers exactly this question. It may be about:",
    "clarify_far_candidates": (
        "I have no guide that answers exactly this question. Could one of these help? "
        "Otherwise pick a topic or ask for an adviser."
    ),
    "clarify_candidates": (
        "I'm not sure I understood. Did you mean one of these answers? Otherwise pick a topic "
        "or ask for an adviser."
    ),
    "clarify_preview": (
        "I'm not sure I understood. The closest answer, “{title}”, says:\n\n"
        "<i>“{sentence}”</i>\n{sources}\n\n"
        "Did you mean one of these answers? Otherwise pick a topic or ask for an adviser."
    ),
    "other_question": "You also asked: “{question}”",
    "other_question_button": "➡️ Answer that question",
    "runner_up": "A neighbouring answer, in case it is yours:",
    "read_full_guide": "📖 Read the whole guide",
    "handoff_confirm": "Would you like an adviser to answer you here?",
    "handoff_confirm_yes": "Yes, an adviser",
    "handoff_confirm_no": "No, let's go on",
    "handoff_declined": "Fine, let's go on. What is your question?",
    "unsupported": "I can only read text messages for now. Please type your question.",
    "handoff_started": (
        "Noted: an adviser will answer you here, usually within one working day. Until then I "
        "won't reply automatically in this chat."
    ),
    "forget_done": "Done: all your data has been erased.",
    "flood": (
        "Easy 🙂 I'm receiving a lot of messages at once. I'll answer again in a few seconds; "
        "your messages are saved."
    ),
    "store_down": "Sorry, I have a temporary technical problem. Please try again in a few minutes.",
    "in_practice": "In practice",
    "verified_on": "checked on {date}",
    "read_guide": "📖 Read the guide: {title}",
    "first_steps": "The first steps",
    "checklist_step": "📋 Step {n} of {total} of the checklist “{title}”",
    "more_steps": "… then {count} more steps, at your own pace: I keep your progress.",
    "start_checklist": "▶️ Start: {title}",
    "news_question": (
        "Would you like to receive <b>news from your adviser</b> (1 or 2 messages a month)? "
        "You can stop at any time with /actus."
    ),
    "news_yes": "Yes, please",
    "news_no": "No, thanks",
    "news_on": "Noted: you will receive your adviser's news. To stop: /actus non.",
    "news_off": "Noted: you will not receive your adviser's news. To receive it: /actus oui.",
    "news_state_on": "You receive your adviser's news (1 or 2 messages a month) since {date}.",
    "news_state_off": "You do not receive your adviser's news (1 or 2 messages a month).",
    "news_switch_on": "Receive the news",
    "news_switch_off": "Stop receiving",
    "news_stop_line": (
        "<i>You receive this because you accepted your adviser's news. To stop: the button "
        "below or /actus non.</i>"
    ),
    "news_stop": "Stop receiving",
    "diagnostic_hint": "To assess your business's digital tools in 5 minutes: /diagnostic",
    "feedback_up": "👍 Useful",
    "feedback_down": "👎 Not useful",
}


def text(language: str, key: str, **values: object) -> str:
    table = EN if language == "en" else FR
    template = table.get(key) or FR[key]
    return template.format(**values) if values else template
