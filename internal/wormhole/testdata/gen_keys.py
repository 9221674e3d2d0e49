#!/usr/bin/python3
# Produces keys.json: the phase keys, verifier and transit key that Debian's
# magic-wormhole 0.12 derives from fixed shared keys, and one secretbox body
# it encrypted. Run with Debian's python3: /usr/bin/python3 gen_keys.py > keys.json
import hashlib, json
from wormhole._key import derive_key, derive_phase_key, encrypt_data
from nacl.secret import SecretBox
from nacl.utils import random

out = []
for seed in [b"ferry-1", b"ferry-2"]:
    key = hashlib.sha256(seed).digest()
    for side, phase in [("0123456789", "version"), ("abcdef0123", "0"), ("abcdef0123", "12"), ("", "pake")]:
        pk = derive_phase_key(key, side, phase)
        box = SecretBox(pk).encrypt(b'{"app_versions": {}}', hashlib.sha256(seed + phase.encode()).digest()[:24])
        out.append({
            "key": key.hex(), "side": side, "phase": phase,
            "phase_key": pk.hex(),
            "verifier": derive_key(key, b"wormhole:verifier").hex(),
            "transit_key": derive_key(key, b"lothar.com/wormhole/text-or-file-xfer/transit-key").hex(),
            "body": bytes(box).hex(),
            "plaintext": '{"app_versions": {}}',
        })
print(json.dumps(out, indent=1))
