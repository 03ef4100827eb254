"""A keyed bijection of ``[0, n)``: the shuffled order of an epoch, index by index.

A four-round Feistel network permutes ``[0, 4**half_bits)``; cycle walking
(applying it again until the value lands below ``n``) restricts it to
``[0, n)``, as ``thrust::shuffle`` does. Each position of an epoch's order is then
computed where it is needed, with no order array and no host shuffle.

Integer arithmetic is masked to 32 bits so that Python integers (the CUDA
simulator, the tests) and 64-bit machine integers give the same results.
"""

MASK32 = 0xFFFFFFFF


def half_bits(n):
    """Bits of each Feistel half for the index space ``[0, n)``: ``4**h >= n``."""
    bits = max(1, (max(n, 2) - 1).bit_length())
    return (bits + 1) // 2


def mix(x, key):
    """A 32-bit integer hash of ``x`` keyed by ``key`` (the Feistel round)."""
    h = (x ^ key) & MASK32
    h = ((h ^ (h >> 16)) * 0x45D9F3B) & MASK32
    h = ((h ^ (h >> 16)) * 0x45D9F3B) & MASK32
    return h ^ (h >> 16)


def permute(i, n, half, k0, k1, k2, k3):
    """Image of ``i`` in ``[0, n)`` under the permutation keyed by ``k0..k3``.

    ``half`` is :func:`half_bits` of ``n``. Every round maps ``(left, right)`` to
    ``(right, left ^ f(right))``, which is invertible whatever ``f`` is.
    """
    mask = (1 << half) - 1
    x = i
    while True:
        left = x >> half
        right = x & mask
        left, right = right, left ^ (mix(right, k0) & mask)
        left, right = right, left ^ (mix(right, k1) & mask)
        left, right = right, left ^ (mix(right, k2) & mask)
        left, right = right, left ^ (mix(right, k3) & mask)
        x = (left << half) | right
        if x < n:
            return x
