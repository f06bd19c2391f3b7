#!/usr/bin/env python3
"""Independent judges of Cerro Torre's transparency formats (core/src/tlog/),
run by integration/tests/tlog_judges.rs in the validator virtualenv.

  tlog_judge.py merkle N         For trees of 1..N leaves (leaf i is the bytes
                                 "leaf {i}"): roots from pymerkle and tlog-scales,
                                 inclusion proofs of every (index, size) from both
                                 (pymerkle's path without its leading leaf hash;
                                 its indices start at 1), consistency proofs of
                                 every (old, new) from tlog-scales. Reads on stdin
                                 Cerro Torre's proofs {"inclusion": {"i n": [hex]},
                                 "consistency": {"m n": [hex]}} and verifies each
                                 with tlog-scales and pymerkle. Prints JSON.
  tlog_judge.py vectors N         Known answers for core's unit tests, from the judges
                                 alone: leaf i is "leaf {i}"; roots of 1..N (pymerkle,
                                 checked equal to tlog-scales'), every inclusion and
                                 consistency proof (tlog-scales). Prints JSON
                                 (core/tests/tlog-data/merkle-vectors.json).
  tlog_judge.py tiles N          tlog-scales writes a tiles log of N entries ("entry {i}")
                                 in one commit; prints JSON {path: hex} of every tile and
                                 entry bundle it wrote.
  tlog_judge.py verify VKEY...   Reads a signed checkpoint on stdin; tlog-scales
                                 parses it and verifies it with each verifier key;
                                 prints one line per key: "<vkey name> ok|fail".
  tlog_judge.py make ORIGIN LOGSEED WITNESS:SEED... < ENTRIES_JSON
                                 tlog-scales writes a tiles log of the given entries
                                 (hex list on stdin) and signs its checkpoint with a
                                 tlog-scales PlainEd25519Signer; each witness adds a
                                 cosignature/v1 (built here from the spec, with
                                 tlog-scales' NoteSignature and Vkey: tlog-scales has
                                 no Ed25519 cosigner); prints JSON: the vkeys, the
                                 checkpoint text and tlog-scales' inclusion proof of
                                 every entry. TLOG_JUDGE_TIME sets the cosignature
                                 time (core/tests/tlog-data/scales-log.json).

Exits non-zero with a message on any failure.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def merkle(n_max):
    import pymerkle
    from tlog_scales import backend, reader, signing, tlog, writer

    ours = json.load(sys.stdin)
    leaves = [b"leaf %d" % i for i in range(n_max)]
    tree = pymerkle.InmemoryTree()
    for leaf in leaves:
        tree.append_entry(leaf)
    root_dir = Path(tempfile.mkdtemp()) / "log"
    w = writer.TilesWriter.create(root_dir, "judge.example/merkle")
    for leaf in leaves:
        w.add_leaf(leaf)
    w.commit([signing.DummySigner()])
    r = reader.TilesReader(backend.LocalBackend(root_dir))
    r.get_checkpoint()

    out = {"roots_pymerkle": {}, "roots_scales": {}, "inclusion_pymerkle": {},
           "inclusion_scales": {}, "consistency_scales": {}, "refused": []}
    for n in range(1, n_max + 1):
        root_n = tree.get_root(n)
        out["roots_pymerkle"][str(n)] = root_n.hex()
        out["roots_scales"][str(n)] = r.mth(0, n).hex()
        for i in range(n):
            key = f"{i} {n}"
            p = tree.prove_inclusion(i + 1, n)
            out["inclusion_pymerkle"][key] = [h.hex() for h in p.path[1:]]
            out["inclusion_scales"][key] = [h.hex() for h in r.get_inclusion_proof(i, n).node_hashes]
            mine = [bytes.fromhex(h) for h in ours["inclusion"][key]]
            leaf = tree.get_leaf(i + 1)
            try:
                tlog.InclusionProof(i, n, mine).check(leaf, root_n)
                pymerkle.InclusionProof("sha256", True, n, i + 1, p.rule, [leaf] + mine).verify(
                    leaf, root_n, index=i + 1, size=n)
            except Exception as e:
                out["refused"].append(f"inclusion {key}: {e!r}")
        for m in range(1, n + 1):
            key = f"{m} {n}"
            out["consistency_scales"][key] = [h.hex() for h in r.get_consistency_proof(m, n).node_hashes]
            mine = [bytes.fromhex(h) for h in ours["consistency"][key]]
            try:
                tlog.ConsistencyProof(m, n, mine).check(tree.get_root(m), root_n)
            except Exception as e:
                out["refused"].append(f"consistency {key}: {e!r}")
    json.dump(out, sys.stdout)


def vectors(n_max):
    import pymerkle
    from tlog_scales import backend, reader, signing, writer

    leaves = [b"leaf %d" % i for i in range(n_max)]
    tree = pymerkle.InmemoryTree()
    for leaf in leaves:
        tree.append_entry(leaf)
    root_dir = Path(tempfile.mkdtemp()) / "log"
    w = writer.TilesWriter.create(root_dir, "judge.example/vectors")
    for leaf in leaves:
        w.add_leaf(leaf)
    w.commit([signing.DummySigner()])
    r = reader.TilesReader(backend.LocalBackend(root_dir))
    r.get_checkpoint()
    out = {"leaves": [leaf.decode() for leaf in leaves], "roots": [], "inclusion": [], "consistency": []}
    for n in range(1, n_max + 1):
        root = tree.get_root(n)
        if root != r.mth(0, n):
            sys.exit(f"pymerkle and tlog-scales disagree on the root of {n} leaves")
        out["roots"].append({"size": n, "root": root.hex()})
        for i in range(n):
            out["inclusion"].append({"index": i, "size": n,
                                     "path": [h.hex() for h in r.get_inclusion_proof(i, n).node_hashes]})
        for m in range(1, n + 1):
            out["consistency"].append({"old": m, "new": n,
                                       "path": [h.hex() for h in r.get_consistency_proof(m, n).node_hashes]})
    json.dump(out, sys.stdout, indent=0)
    print()


def tiles(n):
    from tlog_scales import signing, writer

    root_dir = Path(tempfile.mkdtemp()) / "log"
    w = writer.TilesWriter.create(root_dir, "judge.example/tiles")
    for i in range(n):
        w.add_leaf(b"entry %d" % i)
    w.commit([signing.DummySigner()])
    out = {}
    for p in sorted((root_dir / "tile").rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root_dir))] = p.read_bytes().hex()
    json.dump(out, sys.stdout)


def verify(vkeys):
    from tlog_scales import signing, tlog

    cp = tlog.Checkpoint.from_text(sys.stdin.read())
    for s in vkeys:
        vkey = signing.Vkey.from_string(s)
        try:
            cp.verify(vkey)
            print(f"{vkey.name} ok")
        except Exception as e:
            print(f"{vkey.name} fail {e!r}")


class Ed25519Cosigner:
    """cosignature/v1 (c2sp.org/tlog-cosignature, Ed25519 signed message),
    on tlog-scales' Vkey (key id rule, type 0x04) and NoteSignature."""

    def __init__(self, name, seed):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from tlog_scales import signing

        self.key = Ed25519PrivateKey.from_private_bytes(seed)
        self.vkey = signing.Vkey(name, None, 4, self.key.public_key().public_bytes_raw())

    def sign(self, cp):
        from tlog_scales import signing

        ts = int(os.environ.get("TLOG_JUDGE_TIME", time.time()))
        msg = f"cosignature/v1\ntime {ts}\n".encode() + cp.serialize_body().encode()
        return signing.NoteSignature.from_vkey_signature(self.vkey, ts.to_bytes(8, "big") + self.key.sign(msg))


def make(origin, log_seed, witnesses):
    from tlog_scales import backend, reader, signing, tlog, writer

    entries = [bytes.fromhex(h) for h in json.load(sys.stdin)]
    log = signing.PlainEd25519Signer(origin, bytes.fromhex(log_seed))
    cosigners = []
    for w in witnesses:
        name, seed = w.rsplit(":", 1)
        cosigners.append(Ed25519Cosigner(name, bytes.fromhex(seed)))
    root_dir = Path(tempfile.mkdtemp()) / "log"
    w = writer.TilesWriter.create(root_dir, origin)
    for e in entries:
        w.add_leaf(e)
    w.commit([log])
    r = reader.TilesReader(backend.LocalBackend(root_dir))
    cp = r.get_checkpoint()
    cp = tlog.Checkpoint.make_signed(cp.origin, cp.size, cp.root_hash, [log] + cosigners)
    # tlog-scales checks what it made before we use it.
    for s in [log] + cosigners:
        tlog.Checkpoint.from_text(cp.serialize()).verify(s.vkey)
    json.dump({
        "log_vkey": log.vkey.serialize(),
        "witness_vkeys": [c.vkey.serialize() for c in cosigners],
        "checkpoint": cp.serialize(),
        "inclusion": [[h.hex() for h in r.get_inclusion_proof(i, cp.size).node_hashes]
                      for i in range(cp.size)],
    }, sys.stdout)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "merkle":
        merkle(int(args[0]))
    elif cmd == "vectors":
        vectors(int(args[0]))
    elif cmd == "tiles":
        tiles(int(args[0]))
    elif cmd == "verify":
        verify(args)
    elif cmd == "make":
        make(args[0], args[1], args[2:])
    else:
        sys.exit(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
