#!/usr/bin/env python3
"""Vectors of the STS Association registry update (docs/formats.md §9, our definition).

Prints records/testdata/smreg-vectors.json. Needs python3 with the `cryptography`
package (>= 42 for deterministic ECDSA). Deterministic TEST keys
d = SHA-384(label) mod n on P-384 (labels sts-test-stsa, sts-test-sm, sts-test-sm2);
the signature is ECDSA P-384/SHA-384 with the RFC 6979 nonce, so it is reproducible.
An independent implementation of package records' SMREG.* code: never edit the JSON
by hand; regenerate and compare.
"""
import hashlib
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

N384 = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973


def crc16_modbus(data: bytes) -> str:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return "%04X" % crc


def test_key(label):
    d = int.from_bytes(hashlib.sha384(label.encode()).digest(), "big") % N384
    return ec.derive_private_key(d, ec.SECP384R1())


def point(priv):
    return priv.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def kh(pt):
    return hashlib.sha256(pt).hexdigest().upper()[:16]


def pkid(kind, vendor, ident, t, pt):
    s = "%s:%s:%s:%s:%s:" % (kind, vendor, ident, t, kh(pt))
    return s + crc16_modbus(s.encode())


def record(*fields):
    s = "|".join(fields) + "|"
    return s + crc16_modbus(s.encode())


stsa = test_key("sts-test-stsa")
stsa_pub = point(stsa)
modules = [
    ("sts-test-sm", "94000001", "Test-SSM-1", "SSM1V100", "vending", "Y", "N"),
    ("sts-test-sm2", "94000002", "Prism-TSM250-1", "STS65V10", "manufacturing", "N", "Y"),
]
bodies = [record("SMREG.HDR.1", kh(stsa_pub), "20250601T000000Z", "1", str(len(modules)))]
for i, (label, ident, model, fw, variant, cert, rev) in enumerate(modules, 1):
    pt = point(test_key(label))
    smid = pkid("SMID.1", "TestVendor", ident, "20250102T000000Z", pt)
    bodies.append(record("SMREG.SM.1", str(i), smid, pt.hex().upper(), model, fw, variant, cert, rev))
signed = b"".join(b.encode() + b"\r\n" for b in bodies)
der = stsa.sign(signed, ec.ECDSA(hashes.SHA384(), deterministic_signing=True))
r, s = decode_dss_signature(der)
sig = (r.to_bytes(48, "big") + s.to_bytes(48, "big")).hex().upper()
bodies.append(record("SMREG.END.1", str(len(modules)), sig))

print(json.dumps({
    "provenance": "records/testdata/smreg-vectors.py (python3 cryptography, RFC 6979 deterministic ECDSA)",
    "note": "Our own format (docs/formats.md §9), not STSA-published; deterministic TEST keys d = SHA-384(label) mod n. Never edit an expected value; regenerate and compare.",
    "stsa_label": "sts-test-stsa",
    "stsa_public_key": stsa_pub.hex().upper(),
    "stsa_public_key_pem": stsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    "stsa_key_id": kh(stsa_pub),
    "signed_data_sha384": hashlib.sha384(signed).hexdigest().upper(),
    "records": bodies,
}, indent=2))
