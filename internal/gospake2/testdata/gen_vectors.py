#!/usr/bin/python3
# Produces vectors.json with Debian's python3-spake2 (0.8): symmetric-mode
# SPAKE2 on Ed25519 with fixed entropy, so that the Go implementation can be
# checked byte for byte. Run: /usr/bin/python3 gen_vectors.py > vectors.json
import hashlib, json
import spake2
from spake2 import SPAKE2_Symmetric
from spake2.parameters.ed25519 import ParamsEd25519

def entropy(seed):
    """A deterministic entropy_f: SHA-512 of seed and a counter."""
    state = {"n": 0}
    def f(n):
        out = b""
        while len(out) < n:
            out += hashlib.sha512(seed + state["n"].to_bytes(4, "big")).digest()
            state["n"] += 1
        return out[:n]
    return f

def stream(seed, n):
    return entropy(seed)(n)

cases = [
    (b"", b""),
    (b"7-guitarist-revenge", b"lothar.com/wormhole/text-or-file-xfer"),
    (u"4-\u00fcber-caf\u00e9".encode("utf-8"), b"lothar.com/wormhole/text-or-file-xfer"),
    (b"x" * 1000, b"some/other/app"),
    (b"password", b"idS"),
]
g = ParamsEd25519.group
out = {
    "python_spake2_version": spake2.__version__,
    "S": ParamsEd25519.S.to_bytes().hex(),
    "vectors": [],
}
for i, (pw, ident) in enumerate(cases):
    seed_a, seed_b = b"a%d" % i, b"b%d" % i
    a = SPAKE2_Symmetric(pw, idSymmetric=ident, entropy_f=entropy(seed_a))
    b = SPAKE2_Symmetric(pw, idSymmetric=ident, entropy_f=entropy(seed_b))
    ma, mb = a.start(), b.start()
    ka, kb = a.finish(mb), b.finish(ma)
    assert ka == kb
    out["vectors"].append({
        "password": pw.hex(), "identity": ident.hex(),
        "pw_scalar": g.scalar_to_bytes(g.password_to_scalar(pw)).hex(),
        "entropy_a": stream(seed_a, 64).hex(), "entropy_b": stream(seed_b, 64).hex(),
        "msg_a": ma.hex(), "msg_b": mb.hex(), "key": ka.hex(),
    })
print(json.dumps(out, indent=1))
