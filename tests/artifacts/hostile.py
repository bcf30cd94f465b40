"""Writes hostile tar archives for artifacts_hostile.sh: OUTDIR KIND.

Each starts with a plausible MANIFEST.json so that only the hostile entry
is wrong.  The files are plain tar (libarchive detects the absence of
compression), named .tar.zst by the test.
"""
import io
import sys
import tarfile

out, kind = sys.argv[1], sys.argv[2]


def reg(t, name, data=b"x\n"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))


def link(t, name, target, typ):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.linkname = target
    t.addfile(ti)


with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    reg(t, "MANIFEST.json", b'{"format": "ade-artifact/1", "files": []}\n')
    reg(t, "ok/result.json", b"{}\n")
    if kind == "absolute":
        reg(t, sys.argv[3])
    elif kind == "dotdot":
        reg(t, "ok/../../" + sys.argv[3])
    elif kind == "symlink_abs":
        link(t, "etc", "/etc", tarfile.SYMTYPE)
        reg(t, "etc/ade-hostile-test")
    elif kind == "symlink_up":
        link(t, "up", "../..", tarfile.SYMTYPE)
        reg(t, "up/" + sys.argv[3])
    elif kind == "symlink_then_file":
        # A relative link that looks harmless, then a write through it.
        link(t, "dir", "ok", tarfile.SYMTYPE)
        reg(t, "dir/escape")
    elif kind == "symlink_dotdot_inside":
        # b -> "." is inside, but "b/.." climbs out of the target.
        link(t, "b", ".", tarfile.SYMTYPE)
        link(t, "c", "b/..", tarfile.SYMTYPE)
    elif kind == "hardlink_out":
        link(t, "passwd", "/etc/passwd", tarfile.LNKTYPE)
    elif kind == "hardlink_dotdot":
        link(t, "x", "../" + sys.argv[3], tarfile.LNKTYPE)
    elif kind == "device":
        ti = tarfile.TarInfo("dev/null2")
        ti.type = tarfile.CHRTYPE
        ti.devmajor, ti.devminor = 1, 3
        t.addfile(ti)
    elif kind == "fifo":
        ti = tarfile.TarInfo("fifo")
        ti.type = tarfile.FIFOTYPE
        t.addfile(ti)
    elif kind == "duplicate":
        reg(t, "ok/result.json", b"again\n")
    elif kind == "fine":
        link(t, "ok/link", "result.json", tarfile.SYMTYPE)
        link(t, "ok/hard", "ok/result.json", tarfile.LNKTYPE)
        link(t, "ok/sub/up", "../result.json", tarfile.SYMTYPE)
    else:
        sys.exit("unknown kind " + kind)
