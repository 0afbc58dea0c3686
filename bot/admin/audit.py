"""The audit trail: one row per staff action that changes something or reads personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..store.models import AuditEvent
from .auth import Staff

ACTION_LABELS = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "logout": "Déconnexion",
    "reply": "Réponse à un commerçant",
    "take_over": "Prise en main",
    "hand_back": "Main rendue au bot",
    "tags": "Étiquettes modifiées",
    "note": "Note interne modifiée",
    "export": "Conversation exportée",
    "erase": "Commerçant effacé",
    "correct": "Correction d'intention",
    "retrain": "Réentraînement lancé",
    "retrain_ranker": "Classement des réponses réentraîné",
    "kb_save": "Brouillon enregistré",
    "kb_publish": "Contenu publié",
    "kb_restore": "Révision restaurée",
    "kb_delete": "Contenu supprimé",
    "user_create": "Compte créé",
    "user_update": "Compte modifié",
    "password": "Mot de passe changé",
    "settings": "Réglage modifié",
    "purge": "Purge lancée",
    "campaign_save": "Campagne écrite",
    "campaign_submit": "Campagne soumise à approbation",
    "campaign_approve": "Campagne approuvée et programmée",
    "campaign_reject": "Campagne refusée",
    "campaign_test": "Campagne : envoi de test",
    "campaign_pause": "Campagne mise en pause",
    "campaign_resume": "Campagne reprise",
    "campaign_cancel": "Campagne annulée",
    "campaign_export": "Résultats de campagne exportés",
}


def record(
    session: Session,
    staff: Staff | None,
    action: str,
    target: str = "",
    ip: str = "",
    *,
    email: str = "",  # who, when nobody is signed in yet (sign-in attempts)
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            staff_id=staff.id if staff else None,
            staff_email=staff.email if staff else email,
            action=action,
            target=target[:128],
            detail=detail,
            ip=ip[:64],
        )
    )
