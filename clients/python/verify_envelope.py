#!/usr/bin/env python3
"""Verify and decrypt a model envelope downloaded from idmtelemetry.

This is what a collector does with GET /api/v1/model/download, written out
so that collector authors can copy it. It needs the standard library and
Debian's python3-cryptography (``apt-get install python3-cryptography``),
which provides Fernet and, for envelope 3.0, Ed25519.

Envelope 2.0 (the default, what collectors in the field read)::

    {"version": "2.0",
     "metadata": {"filename": "<name>.model", "size_original": N, "timestamp": T},
     "payload": "<standard base64 of the ASCII Fernet token>",
     "signature": "<hex HMAC-SHA256>"}

The HMAC is keyed with the 44 ASCII bytes of the Fernet key string and covers
``payload + "." + json.dumps(metadata, sort_keys=True)``.

Envelope 3.0 (``?format=3``) adds ``key_id`` and ``signature_ed25519``: an
Ed25519 signature over ``b"idmt-model-envelope-3.0\\n" + payload + "." +
json.dumps(metadata, sort_keys=True)``, verifiable with the public key from
GET /api/v1/model/pubkey. The standard library has no Ed25519, so this uses
python3-cryptography, which the Fernet step needs anyway.

Command line::

    python3 verify_envelope.py ENVELOPE --out MODEL.json [--key KEY | --key-file FILE]
        [--previous-key KEY] [--expected-hash HEX] [--pubkey PUBKEY.pem]

The key defaults to $IDMT_FERNET_KEY. ``--expected-hash`` is the
X-Model-Hash header (or the check's model_hash): the SHA-256 of the file must
equal it. The plaintext model document is written to --out ("-" for standard
output) and can be scored with idmt_model.py. Exit status: 0 verified,
1 verification failed, 2 usage, 3 python3-cryptography missing.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import time

V3_PREFIX = b"idmt-model-envelope-3.0\n"


class EnvelopeError(ValueError):
    """An envelope that does not verify or decrypt."""


def _crypto():
    try:
        from cryptography.fernet import Fernet, InvalidToken
    except ImportError:
        sys.stderr.write(
            "verify_envelope: python3-cryptography is missing; "
            "install it with: apt-get install python3-cryptography\n"
        )
        sys.exit(3)
    return Fernet, InvalidToken


def key_id(public_key):
    """The key ID of an Ed25519 public key: SHA-256 of its 32 raw bytes,
    first 8 bytes in hex."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise EnvelopeError("the public key is not an Ed25519 key")
    return key


def verify(data, keys, expected_hash=None, public_key_pem=None):
    """Verify and decrypt envelope bytes.

    keys lists Fernet key strings to try, current first (a previous key
    opens envelopes sealed before a rotation). Returns (plaintext, info).
    """
    Fernet, InvalidToken = _crypto()
    digest = hashlib.sha256(data).hexdigest()
    if expected_hash is not None and not hmac.compare_digest(
        digest, expected_hash.strip().lower()
    ):
        raise EnvelopeError(
            "sha256 of the file is %s, expected %s: incomplete or altered download"
            % (digest, expected_hash)
        )
    try:
        env = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise EnvelopeError("not a JSON envelope: %s" % e) from None
    if not isinstance(env, dict):
        raise EnvelopeError("not a JSON envelope")
    version = env.get("version")
    if version not in ("2.0", "3.0"):
        raise EnvelopeError("unknown envelope version %r" % (version,))
    metadata = env.get("metadata")
    payload = env.get("payload")
    signature = env.get("signature")
    if not isinstance(metadata, dict) or not isinstance(payload, str) or not isinstance(signature, str):
        raise EnvelopeError("envelope lacks metadata, payload or signature")

    # Exactly what collectors compute: the metadata reprinted by Python.
    signed = (payload + "." + json.dumps(metadata, sort_keys=True)).encode("utf-8")
    info = {"version": version, "sha256": digest, "metadata": metadata}

    if version == "2.0" and public_key_pem is not None:
        # A client that asks for Ed25519 must not accept the weaker format:
        # anyone holding the shared key can forge a 2.0 envelope.
        raise EnvelopeError(
            "envelope 2.0 has no Ed25519 signature; download with ?format=3"
        )
    if version == "3.0":
        if public_key_pem is None:
            raise EnvelopeError(
                "envelope 3.0 needs the public key: --pubkey (GET /api/v1/model/pubkey)"
            )
        from cryptography.exceptions import InvalidSignature

        pub = load_public_key(public_key_pem)
        kid = key_id(pub)
        if env.get("key_id") != kid:
            raise EnvelopeError(
                "envelope signed by key %r, the public key given is %r"
                % (env.get("key_id"), kid)
            )
        try:
            sig = base64.b64decode(env.get("signature_ed25519", ""), validate=True)
            pub.verify(sig, V3_PREFIX + signed)
        except (binascii.Error, InvalidSignature, TypeError):
            raise EnvelopeError("Ed25519 signature does not verify") from None
        info["key_id"] = kid

    used = None
    for i, key in enumerate(keys):
        mac = hmac.new(key.encode("ascii"), signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(mac, signature):
            used = i
            break
    if used is None:
        raise EnvelopeError("HMAC signature does not verify with the key(s) given")
    info["previous_key"] = used > 0

    fernet = token = None
    try:
        token = base64.b64decode(payload, validate=True)
        fernet = Fernet(keys[used].encode("ascii"))
        plaintext = fernet.decrypt(token)
    except (binascii.Error, InvalidToken, ValueError):
        # Fernet given a ttl refuses tokens stamped more than 60 s in the
        # future (this script passes none, a collector might): say so
        # rather than blame the key when this machine's clock is behind.
        sealed = None
        if fernet is not None:
            try:
                sealed = fernet.extract_timestamp(token)
            except InvalidToken:
                pass
        if sealed is not None and sealed > time.time() + 60:
            raise EnvelopeError(
                "the model was sealed %d s in this machine's future: check its clock (NTP)"
                % (sealed - time.time())
            ) from None
        raise EnvelopeError("payload does not decrypt with the signing key") from None
    if len(plaintext) != metadata.get("size_original"):
        raise EnvelopeError(
            "decrypted %d bytes, metadata says %r"
            % (len(plaintext), metadata.get("size_original"))
        )
    return plaintext, info


def _usage(msg):
    sys.stderr.write("verify_envelope: %s\n" % msg)
    sys.stderr.write(
        "usage: verify_envelope.py ENVELOPE --out MODEL.json [--key KEY | --key-file FILE]\n"
        "       [--previous-key KEY] [--expected-hash HEX] [--pubkey PUBKEY.pem]\n"
    )
    return 2


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    opts = {}
    rest = []
    flags = ("--out", "--key", "--key-file", "--previous-key", "--expected-hash", "--pubkey")
    while args:
        a = args.pop(0)
        if a in flags:
            if not args:
                return _usage("%s needs a value" % a)
            opts[a] = args.pop(0)
        elif a.startswith("--"):
            return _usage("unknown option %s" % a)
        else:
            rest.append(a)
    if len(rest) != 1 or "--out" not in opts:
        return _usage("give one ENVELOPE file and --out")
    key = opts.get("--key")
    if key is None and "--key-file" in opts:
        with open(opts["--key-file"], "r", encoding="ascii") as f:
            key = f.read().strip()
    if key is None:
        key = os.environ.get("IDMT_FERNET_KEY", "").strip()
    if not key:
        return _usage("no Fernet key: --key, --key-file or IDMT_FERNET_KEY")
    keys = [key]
    if opts.get("--previous-key"):
        keys.append(opts["--previous-key"])
    pem = None
    if "--pubkey" in opts:
        with open(opts["--pubkey"], "rb") as f:
            pem = f.read()
    try:
        with open(rest[0], "rb") as f:
            data = f.read()
        plaintext, info = verify(data, keys, opts.get("--expected-hash"), pem)
    except (OSError, EnvelopeError, ValueError) as e:
        sys.stderr.write("verify_envelope: %s\n" % e)
        return 1
    if opts["--out"] == "-":
        sys.stdout.buffer.write(plaintext)
    else:
        with open(opts["--out"], "wb") as f:
            f.write(plaintext)
    sys.stderr.write(
        "verify_envelope: ok: envelope %s, %s, sha256 %s, %d bytes%s%s\n"
        % (
            info["version"],
            info["metadata"].get("filename"),
            info["sha256"],
            len(plaintext),
            ", ed25519 key " + info["key_id"] if "key_id" in info else "",
            ", previous key" if info["previous_key"] else "",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
