"""Sign Table 2 as its publisher: ``python tools/sign_table2.py --key publisher.pem``.

With ``--new-key FILE`` a fresh Ed25519 key is written to FILE (keep it
offline) and its public half becomes the pinned trust anchor in the package.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DATA = Path(__file__).resolve().parent.parent / "src" / "myna" / "linkage" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", type=Path, help="publisher's private key (PEM)")
    group.add_argument("--new-key", type=Path, help="create a new publisher key here")
    args = parser.parse_args()
    if args.new_key:
        key = Ed25519PrivateKey.generate()
        args.new_key.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        args.new_key.chmod(0o600)
        (DATA / "publisher.pub").write_text(
            base64.b64encode(key.public_key().public_bytes_raw()).decode() + "\n")
    else:
        loaded = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise SystemExit("not an Ed25519 key")
        key = loaded
    document = (DATA / "table2.json").read_bytes()
    (DATA / "table2.json.sig").write_text(base64.b64encode(key.sign(document)).decode() + "\n")
    print("signed", len(document), "bytes")


if __name__ == "__main__":
    main()
