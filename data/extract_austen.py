"""Write the novels in the janeaustenr R package's lazy-load database as plain text (no R needed).

Usage: python3 extract_austen.py DATA_DIR [OUT_DIR]
DATA_DIR holds Rdata.rdx and Rdata.rdb (from Debian's r-cran-janeaustenr). The .rdx is a gzipped
R serialisation of list(variables = list(<name> = c(offset, length)), ...); each object in the
.rdb is a 4-byte length followed by a zlib stream of an R serialisation. The novels are character
vectors of lines, written out as <name>.txt joined with newlines. A minimal reader of R's XDR
format, for the few object types these files use.
"""
import gzip
import struct
import sys
import zlib
from pathlib import Path


class Reader:
    def __init__(self, raw):
        assert raw[:2] == b"X\n", "not an XDR serialisation"
        self.raw, self.pos, self.refs = raw, 2, []
        version = self.int()
        self.int(), self.int()                         # writer and minimal reader versions
        if version == 3:
            n = self.int()                             # native encoding name
            self.pos += n

    def int(self):
        (v,) = struct.unpack(">i", self.raw[self.pos:self.pos + 4])
        self.pos += 4
        return v

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:                                # NULL
            return None
        if kind == 255:                                # reference to an earlier symbol
            return self.refs[(flags >> 8) - 1]
        if kind == 1:                                  # symbol
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:                                  # CHARSXP (a string)
            n = self.int()
            if n == -1:
                return None
            s = self.raw[self.pos:self.pos + n].decode("utf-8")
            self.pos += n
            return s
        if kind == 2:                                  # pairlist (attributes)
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car, cdr = self.item(), self.item()
            return [(tag, car)] + (cdr or [])
        n = self.int()
        if kind in (10, 13):                           # logical / integer vector
            value = list(struct.unpack(f">{n}i", self.raw[self.pos:self.pos + 4 * n]))
            self.pos += 4 * n
        elif kind in (16, 19):                         # character vector / list
            value = [self.item() for _ in range(n)]
        else:
            raise ValueError(f"unsupported R type {kind}")
        if has_attr:
            attrs = dict(self.item())
            if "names" in attrs:
                value = dict(zip(attrs["names"], value))
        return value


def main(data_dir, out_dir="."):
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    index = Reader(gzip.decompress((data_dir / "Rdata.rdx").read_bytes())).item()
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    for name, (offset, length) in index["variables"].items():
        lines = Reader(zlib.decompress(rdb[offset + 4:offset + length])).item()
        (out_dir / f"{name}.txt").write_text("\n".join(lines) + "\n")
        print(name, len(lines), "lines")


if __name__ == "__main__":
    main(*sys.argv[1:])
