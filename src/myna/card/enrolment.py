"""Putting JPKI on a new card: keys generated on the chip, certificates from J-LIS.

This is the JPKI part of card production only; applications, photos, the
counter hand-over and notification belong to the card-issuance flow.
"""

from __future__ import annotations

from dataclasses import dataclass

from myna.card.chip import ChipStore
from myna.card.pins import Slot
from myna.jpki.domain import SigningSubject, check_signing_age
from myna.jpki.service import JpkiService


@dataclass(frozen=True)
class JpkiEnrolment:
    """Serials of the certificates written to a card (no signing certificate under 15)."""

    card_id: str
    auth_serial: int
    signing_serial: int | None


def enrol_jpki(
    ca: JpkiService, chips: ChipStore, card_id: str, person_key: str, subject: SigningSubject,
    *, signing: bool = True,
) -> JpkiEnrolment:
    """Generate both key pairs on the chip and write J-LIS's certificates for them.

    The private keys are created inside ``chips`` and never leave it; the CA
    sees only public keys.  ``signing=False`` (e.g. under 15, or declined) issues
    the auth certificate only.  PINs are set afterwards with
    :meth:`ChipStore.set_pins` when the card is handed over.
    """
    if signing:
        check_signing_age(subject.birth_date, ca.issue_date())
    chips.manufacture(card_id)
    auth = ca.issue_auth_certificate(
        card_id, person_key, subject.birth_date, chips.generate_key_pair(card_id, Slot.AUTH)
    )
    chips.write_certificate(card_id, Slot.AUTH, auth)
    signing_serial = None
    if signing:
        cert = ca.issue_signing_certificate(
            card_id, person_key, subject, chips.generate_key_pair(card_id, Slot.SIGNING)
        )
        chips.write_certificate(card_id, Slot.SIGNING, cert)
        signing_serial = cert.serial_number
    return JpkiEnrolment(card_id, auth.serial_number, signing_serial)
