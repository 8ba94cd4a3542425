"""Keccak-256 (Ethereum's hash, not NIST SHA3-256) in pure Python.

Why not pycryptodome's keccak: importing it pulls in cffi and pycparser (~40 ms), a
tenth of the start-up budget of `payment create`, which needs exactly two hashes (the
address and its EIP-55 checksum). This permutation costs ~0.1 ms per 136-byte block;
the tests check it against pycryptodome on random inputs. Bulk work (deriving a
thousand addresses for `payment import`) asks for `bulk_keccak256()`, pycryptodome's C
implementation, where the one-off import cost is repaid many times over.
"""

from __future__ import annotations

from collections.abc import Callable

_RATE = 136  # bytes absorbed per permutation for a 256-bit output
_MASK = (1 << 64) - 1
_ROUND_CONSTANTS = (
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808A,
    0x8000000080008000,
    0x000000000000808B,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008A,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000A,
    0x000000008000808B,
    0x800000000000008B,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800A,
    0x800000008000000A,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
)
# Rotation offsets r[x + 5y] and the pi permutation as (source, destination, rotation).
_ROTATIONS = (0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14)
_PI = tuple(
    (x + 5 * y, y + 5 * ((2 * x + 3 * y) % 5), _ROTATIONS[x + 5 * y]) for x in range(5) for y in range(5)
)


def _permute(a: list[int]) -> None:
    """Keccak-f[1600] on 25 64-bit lanes, in place (lane index x + 5y)."""
    mask = _MASK
    for rc in _ROUND_CONSTANTS:
        # theta
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & mask) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        # rho and pi
        b = [0] * 25
        for src, dst, rot in _PI:
            v = a[src]
            b[dst] = ((v << rot) | (v >> (64 - rot))) & mask if rot else v
        # chi
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y : y + 5]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        # iota
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest of `data` (original Keccak padding 0x01 … 0x80)."""
    padded = bytearray(data)
    padded.append(0x01)
    padded.extend(b"\x00" * (-len(padded) % _RATE))
    padded[-1] |= 0x80
    state = [0] * 25
    for offset in range(0, len(padded), _RATE):
        block = padded[offset : offset + _RATE]
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _permute(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


def bulk_keccak256() -> Callable[[bytes], bytes]:
    """A Keccak-256 worth its import cost for many hashes (pycryptodome, C), else ours."""
    try:
        from Crypto.Hash import keccak
    except ImportError:  # pycryptodome comes with bip-utils; this is only a safety net
        return keccak256

    def digest(data: bytes) -> bytes:
        return keccak.new(digest_bits=256, data=data).digest()

    return digest
