"""A small, valid baseline JPEG for the demo's Outlook reply, made with the standard library.

Every 8x8 block is one flat colour, so only the DC coefficients are coded and the AC part of
each block is a single end-of-block code: a tiny encoder, yet a real JPEG (JFIF, 4:4:4
YCbCr, Huffman-coded) that every image viewer and mail client shows as a blocky photo.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

Colour = tuple[int, int, int]

#: the standard luminance DC table (JPEG spec, table K.3): code lengths, then categories
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
#: an AC table holding only the end-of-block symbol, coded as the single bit "0"
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0,)


def _codes(bits: Sequence[int], values: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes: symbol -> (code, length)."""
    out: dict[int, tuple[int, int]] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, 1):
        for _ in range(count):
            out[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return out


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _ycbcr(rgb: Colour) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(v))) for v in (y, cb, cr))  # type: ignore[return-value]


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc, self.n = 0, 0

    def finish(self) -> bytes:
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with ones
        return bytes(self.out)


def jpeg(blocks: Sequence[Sequence[Colour]]) -> bytes:
    """A JPEG of len(blocks[0]) x len(blocks) blocks of 8x8 pixels, each of one colour."""
    rows, cols = len(blocks), len(blocks[0])
    dc = _codes(_DC_BITS, _DC_VALUES)
    eob = _codes(_AC_BITS, _AC_VALUES)[0]
    # quantiser 8 for DC: the coded value is then the block's mean minus 128
    quant = bytes([8] + [16] * 63)
    head = b"\xff\xd8" + _segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    head += _segment(0xFFDB, b"\x00" + quant)
    head += _segment(0xFFC0, struct.pack(">BHHB", 8, rows * 8, cols * 8, 3)
                     + b"".join(bytes([c, 0x11, 0]) for c in (1, 2, 3)))
    head += _segment(0xFFC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES))
    head += _segment(0xFFC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES))
    head += _segment(0xFFDA, b"\x03" + b"".join(bytes([c, 0x00]) for c in (1, 2, 3))
                     + b"\x00\x3f\x00")
    bits = _Bits()
    previous = [0, 0, 0]
    for row in blocks:
        for colour in row:
            for i, level in enumerate(_ycbcr(colour)):
                value = level - 128
                diff, previous[i] = value - previous[i], value
                category = abs(diff).bit_length()
                bits.put(*dc[category])
                if category:
                    bits.put(diff if diff > 0 else diff + (1 << category) - 1, category)
                bits.put(*eob)
    return head + bits.finish() + b"\xff\xd9"


def groundbreaking_photo() -> bytes:
    """A 128 x 96 picture: sky and sun, a yellow excavator on dug earth, a red-and-white
    barrier on the meadow (the Bauamt's groundbreaking)."""
    sky_top, sky, sun = (88, 148, 214), (150, 196, 236), (255, 214, 90)
    meadow, earth, dark = (92, 160, 72), (140, 96, 58), (60, 60, 60)
    yellow, red, white = (240, 186, 30), (200, 40, 40), (245, 245, 245)
    cols = 16
    picture: list[list[Colour]] = []
    for y in range(12):
        row: list[Colour] = []
        for x in range(cols):
            colour = sky_top if y < 2 else sky
            if y < 7 and 12 <= x <= 13 and 1 <= y <= 2:
                colour = sun
            if y >= 7:
                colour = meadow
            if y >= 8 and 3 <= x <= 10:
                colour = earth
            if 5 <= y <= 7 and 5 <= x <= 7:
                colour = yellow  # the excavator's cab and body
            if y == 6 and 8 <= x <= 9:
                colour = yellow  # its arm
            if y == 7 and x == 10:
                colour = dark  # the bucket
            if y == 8 and 5 <= x <= 7:
                colour = dark  # the tracks
            if y == 10 and 11 <= x <= 14:
                colour = red if x % 2 else white
            row.append(colour)
        picture.append(row)
    return jpeg(picture)
