#!/usr/bin/python3
# One side of a live SPAKE2 exchange with python3-spake2, for live_test.go.
# Reads one line: h+hex(password) h+hex(identity) h+hex(other side's message)
# (the "h" keeps an empty password a field);
# prints: hex(our message) hex(key).
import sys
from spake2 import SPAKE2_Symmetric

pw, ident, msg = (bytes.fromhex(x[1:]) for x in sys.stdin.readline().split())
s = SPAKE2_Symmetric(pw, idSymmetric=ident)
out = s.start()
key = s.finish(msg)
print(out.hex(), key.hex())
