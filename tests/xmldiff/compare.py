"""Defines the same domain XML documents on libvirt 9.0's test:///default and on
virshim's, and compares what each answers: accepted, or refused with which error code,
domain and message.

    compare.py [--lib DIR] [--kept FILE] [--show N] [--dump FILE] PATH...

PATH is a document or a folder of them (searched recursively for *.xml). DIR holds
virshim's libvirt.so.0 (default: $VIRSHIM_LIBDIR, else target/virshim/lib). FILE lists
the differences kept on purpose, one `GLOB  # why` a line, matched against the document
paths as given. Prints the figures and every difference not kept; exits 1 when any
difference is not kept, or a kept entry no longer matches a difference.
"""

import argparse
import fnmatch
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3"
SYSTEM_LIBVIRT = "/usr/lib/x86_64-linux-gnu/libvirt.so.0"


def documents(paths):
    for path in paths:
        if os.path.isdir(path):
            for folder, _, files in sorted(os.walk(path)):
                for f in sorted(files):
                    if f.endswith(".xml"):
                        yield os.path.join(folder, f)
        else:
            yield path


def answers(docs, libdir):
    """What one library answers for each document, by path."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir
    out = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "worker.py")],
                         input="".join(d + "\n" for d in docs), env=env,
                         capture_output=True, text=True, check=False)
    results = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        results[r.pop("file")] = r
    if out.returncode != 0 or len(results) != len(docs):
        sys.exit(f"worker on {libdir or 'libvirt'} failed after {len(results)} documents:\n"
                 f"{out.stderr[-3000:]}")
    return results


def describe(r):
    if r["ok"]:
        return "accepted"
    return f"refused {r['code']}/{r['domain']}: {r['message']}"


def kept_entries(path):
    entries = []
    if path:
        with open(path, encoding="utf-8") as f:
            for line in f:
                pattern, _, why = line.partition("#")
                if pattern.strip():
                    entries.append((pattern.strip(), why.strip()))
    return entries


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.environ.get("VIRSHIM_LIBDIR",
                                                     os.path.join(ROOT, "target/virshim/lib")))
    ap.add_argument("--kept")
    ap.add_argument("--show", type=int, default=50, help="differences printed at most")
    ap.add_argument("--dump", help="write every difference to this file, as JSON lines")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.lib, "libvirt.so.0")):
        sys.exit(f"no virshim library in {args.lib}: run `make lib`")
    if not os.path.exists(SYSTEM_LIBVIRT):
        sys.exit(f"{SYSTEM_LIBVIRT} is missing: install libvirt0 and python3-libvirt")

    docs = list(documents(args.paths))
    theirs = answers(docs, None)
    ours = answers(docs, os.path.abspath(args.lib))
    kept = kept_entries(args.kept)
    used = set()
    agree = kept_count = 0
    unexpected = []
    for doc in docs:
        a, b = theirs[doc], ours[doc]
        if a == b:
            agree += 1
            continue
        entry = next((p for p, _ in kept if fnmatch.fnmatch(doc, p)), None)
        if entry:
            used.add(entry)
            kept_count += 1
        else:
            unexpected.append((doc, a, b))
    for doc, a, b in unexpected[: args.show]:
        print(f"DIFFERS {doc}\n  libvirt: {describe(a)}\n  virshim: {describe(b)}")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for doc, a, b in unexpected:
                f.write(json.dumps({"file": doc, "libvirt": a, "virshim": b}) + "\n")
    stale = [p for p, _ in kept if p not in used]
    for p in stale:
        print(f"STALE kept entry (no longer a difference): {p}")
    refused = sum(1 for d in docs if not theirs[d]["ok"])
    print(f"{len(docs)} documents compared ({refused} refused by libvirt): {agree} agree, "
          f"{kept_count} kept differences, {len(unexpected)} other differences")
    sys.exit(1 if unexpected or stale else 0)


if __name__ == "__main__":
    main()
