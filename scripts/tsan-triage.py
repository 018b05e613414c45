#!/usr/bin/env python3
"""Sorts ThreadSanitizer's data-race reports into those std's locks explain and the rest.

Without rust-src (-Zbuild-std) the standard library is not instrumented: TSan sees a std
Mutex's uncontended lock and its unlock (inlined into virshim's code) but not the
contended path, so two accesses under the same std lock can show as a race. A report
both of whose accesses run inside a function that holds one of virshim's std locks (or
inside std's own synchronization) is counted as explained; any other is printed, and
makes the exit status 1.

usage: tsan-triage.py REPORT...
"""
import re
import sys

# Functions that do all their work on shared data while holding a std Mutex.
HOLDS_A_LOCK = re.compile(
    r"TestDriver as virshim::core::driver::Driver"  # every call: the state's Mutex
    r"|TestDriver>::default_shared"                 # the DEFAULT slot's Mutex
    r"|Registry<"                                   # the handle registry's Mutex
    r"|ffi::error::raise|virConn\w*LastError|virConnSetErrorFunc|virSetErrorFunc"
    r"|ErrorSlot"                                   # a connection's error, its Mutex
    r"|std::sync::mpmc|std::sync::poison"           # std's own channels and locks
)


def accesses(report):
    """The stacks of the two conflicting accesses of one report."""
    body = report.split("SUMMARY")[0]
    parts = re.split(r"\n  (?=(?:Previous )?(?:[Ww]rite|[Rr]ead|[Aa]tomic))", body)
    stacks = [p for p in parts if re.match(r"(Previous )?([Ww]rite|[Rr]ead|[Aa]tomic)", p)]
    return [re.split(r"\n  (?:Location|Mutex|Thread)", s)[0] for s in stacks[:2]]


def main():
    total = unexplained = 0
    for path in sys.argv[1:]:
        reports = open(path, errors="replace").read().split("WARNING: ThreadSanitizer")[1:]
        for report in reports:
            total += 1
            stacks = accesses(report)
            if len(stacks) == 2 and all(HOLDS_A_LOCK.search(s) for s in stacks):
                continue
            unexplained += 1
            print("UNEXPLAINED:" + report.split("SUMMARY")[0][:4000])
    print(f"tsan: {total} reports, {total - unexplained} on data under std locks, "
          f"{unexplained} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
