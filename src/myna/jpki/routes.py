"""The JPKI CA's node routes (J-LIS's process serves them; see :mod:`myna.nodes`).

Every request is a signed node request (:mod:`myna.transport.http`): the caller is
the node id in its network certificate.  Who may call what:

* registering and withdrawing relying parties — J-LIS itself (``jlis``): it is
  J-LIS's administrative act (公的個人認証法 17条, 38条の2), made with J-LIS's own
  node key by its operators' tools; no one else's certificate will do;
* verification, certificate status, OCSP and the CRL — ``business:<institution>``
  callers, each asking *as itself*: the relying party is the calling node id
  (register it under that id, e.g. ``business:etax``), a payload naming another
  party is refused, and the service refuses (and logs) callers not registered;
* the CA certificates (trust anchors, public by nature) — any authenticated node.

A refused verification is an answer, not a failed call: ``{"rejected": {reason,
message, message_en}}``, so that its :class:`~myna.contracts.jpki.RejectReason`
crosses the wire; :class:`~myna.transport.jpki_client.JpkiClient` raises it again as
:class:`~myna.contracts.jpki.CertificateRejected`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from myna.contracts.jpki import CertificateRejected, CertKind, PartyCategory, b64, unb64
from myna.errors import PermissionDenied
from myna.jpki.service import JpkiService

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
MayCall = Callable[[str], bool]

PREFIX = "/node/v1/jpki"
REGISTER = f"{PREFIX}/relying-parties/register"
DEREGISTER = f"{PREFIX}/relying-parties/deregister"
VERIFY_SIGNATURE = f"{PREFIX}/verify-signature"
STATUS = f"{PREFIX}/certificate-status"
OCSP = f"{PREFIX}/ocsp"
CRL = f"{PREFIX}/crl"
CA_CERTIFICATES = f"{PREFIX}/ca-certificates"


def is_jlis(caller: str) -> bool:
    return caller == "jlis"


def is_business(caller: str) -> bool:
    return caller.startswith("business:")


def anyone(caller: str) -> bool:
    return True


def _as_caller(caller: str, payload: dict[str, Any]) -> str:
    """The relying party is the caller; a payload may repeat it, not name another."""
    named = payload.get("relying_party", caller)
    if named != caller:
        raise PermissionDenied("他の検証者の名義で照会することはできません",
                               "relying_party does not match the calling node")
    return caller


def jpki_routes(jpki: JpkiService) -> dict[str, tuple[Handler, MayCall]]:
    """The JPKI CA's routes, to mount in J-LIS's node app."""

    def register(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        party = jpki.register_relying_party(
            str(p["party_id"]), str(p["name"]), str(p["kind"]),
            category=str(p.get("category", PartyCategory.PUBLIC.value)),
            approval_ref=p.get("approval_ref"),
            update_existing=bool(p.get("update_existing", False)))
        return party.as_json()

    def deregister(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        jpki.deregister_relying_party(str(p["party_id"]))
        return {"ok": True}

    def verify_signature(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        now = p.get("now")
        try:
            verified = jpki.verify_signature(
                unb64(p["document"]), unb64(p["signature"]), unb64(p["certificate"]),
                relying_party=_as_caller(caller, p), purpose=CertKind(p.get("purpose", "signing")),
                chain=[unb64(c) for c in p.get("chain", [])],
                now=dt.datetime.fromisoformat(now) if now else None)
        except CertificateRejected as exc:
            return {"rejected": exc.as_json()}
        return {"verified": verified.as_json()}

    def status(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return jpki.certificate_status(str(p["serial"]),
                                       relying_party=_as_caller(caller, p)).as_json()

    def ocsp(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"response": b64(jpki.ocsp_response(unb64(p["request"]), _as_caller(caller, p)))}

    def crl(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"crl": b64(jpki.current_crl(relying_party=_as_caller(caller, p),
                                            which=str(p.get("which", "issuing"))))}

    def ca_certificates(caller: str, p: dict[str, Any]) -> dict[str, Any]:
        return jpki.ca_certificates().as_json()

    return {
        REGISTER: (register, is_jlis),
        DEREGISTER: (deregister, is_jlis),
        VERIFY_SIGNATURE: (verify_signature, is_business),
        STATUS: (status, is_business),
        OCSP: (ocsp, is_business),
        CRL: (crl, is_business),
        CA_CERTIFICATES: (ca_certificates, anyone),
    }
