#!/usr/bin/python3
"""Checks that a PNG screenshot is not blank, with the standard library only.

usage: png.py check FILE            prints "WIDTHxHEIGHT colours=N nonwhite=F" and exits 1
                                    when the image is (almost) one colour
       png.py crop FILE OUT Y0 Y1   writes rows Y0..Y1 of FILE to OUT (to look at a part)

Decodes 8-bit non-interlaced greyscale, RGB and RGBA images, which is what
Chromium writes.
"""
import struct
import sys
import zlib


def read(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("%s: not a PNG file" % path)
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or ctype not in (0, 2, 6):
                raise SystemExit("%s: unsupported PNG (depth %d, colour type %d)" % (path, depth, ctype))
            bpp = {0: 1, 2: 3, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if w is None:
        raise SystemExit("%s: no IHDR" % path)
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def write(path, w, bpp, rows):
    ctype = {1: 0, 3: 2, 4: 6}[bpp]
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, len(rows), 8, ctype, 0, 0, 0))
    out += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    open(path, "wb").write(out)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        w, h, bpp, rows = read(sys.argv[2])
        colours, nonwhite, total = set(), 0, 0
        for r in rows[::4]:
            for x in range(0, w * bpp, bpp * 4):
                px = r[x:x + min(bpp, 3)]
                colours.add(px)
                total += 1
                nonwhite += min(px) < 235
        frac = nonwhite / total if total else 0
        print("%dx%d colours=%d nonwhite=%.3f" % (w, h, len(colours), frac))
        return 0 if len(colours) >= 16 and frac >= 0.02 else 1
    if len(sys.argv) == 6 and sys.argv[1] == "crop":
        w, h, bpp, rows = read(sys.argv[2])
        write(sys.argv[3], w, bpp, rows[int(sys.argv[4]):int(sys.argv[5])])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main())
