#!/usr/bin/env python3
"""Layout promises checked on the tree itself: one file moves jobs, one
helper renames files, includes name their layer and only ever look down,
SQL stays in store/, the simulator shares nothing with the client, and
files and functions stay small."""
import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCE_DIRS = ("daemon", "jobs", "openai", "store", "sim", "io", "ledger", "jobfiles", "vectors")

# Who may include whom: a folder only includes folders below it (or itself).
# Top level, from the top down; the three at the bottom include nothing of the project.
LAYERS = ["daemon", "jobs", "vectors", "jobfiles", "ledger", "io", "store", "openai"]
BOTTOM = {"io", "store", "openai"}
# jobs/ inside, from the top down: a job's way, each folder using only those below it.
JOBS_LAYERS = ["lifecycle", "chunks", "intake", "kinds", "results", "core"]


def sources(dirs=SOURCE_DIRS):
    for d in dirs:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            for name in sorted(names):
                if name.endswith((".cpp", ".hpp")):
                    yield os.path.relpath(os.path.join(base, name), ROOT)


def code_lines(path):
    """The file's lines with // comments and string literals blanked out."""
    with open(os.path.join(ROOT, path)) as f:
        for number, line in enumerate(f, 1):
            line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
            yield number, line.split("//", 1)[0]


def callers(pattern, dirs=SOURCE_DIRS):
    found = set()
    for path in sources(dirs):
        for _, line in code_lines(path):
            if re.search(pattern, line):
                found.add(path)
    return found


def includes(path):
    with open(os.path.join(ROOT, path)) as f:
        return re.findall(r'^#include "([^"]+)"', f.read(), re.M)


def rank(path):
    """(top-level layer, jobs/ layer) of a project path; a lower number is higher up."""
    parts = path.split("/")
    top = LAYERS.index(parts[0]) if parts[0] in LAYERS else None
    sub = JOBS_LAYERS.index(parts[1]) if parts[0] == "jobs" and len(parts) > 2 else None
    return top, sub


class TreeRules(unittest.TestCase):
    def test_the_store_s_job_move_is_called_from_one_file(self):
        self.assertEqual(callers(r"\bmove_job\s*\(", ("daemon", "jobs", "openai", "vectors", "ledger")),
                         {"jobs/lifecycle/job_transitions.cpp"})

    def test_rename_lives_in_the_atomic_file_helper(self):
        # The client's download renames its own .part file: openai/ does not depend on io/.
        dirs = tuple(d for d in SOURCE_DIRS if d != "sim")
        self.assertEqual(callers(r"\brename\s*\(", dirs), {"io/atomic_file.cpp", "openai/client.cpp"})

    def test_no_source_file_is_over_400_lines(self):
        long = {}
        for path in sources():
            with open(os.path.join(ROOT, path)) as f:
                n = sum(1 for _ in f)
            if n > 400:
                long[path] = n
        self.assertEqual(long, {})

    def test_no_kind_is_tested_by_name_outside_the_kinds(self):
        with_literal = set()
        for path in sources(("daemon", "jobs")):
            if path.startswith("jobs/kinds/"):
                continue
            with open(os.path.join(ROOT, path)) as f:
                if re.search(r'kind\s*==\s*"manifest"|"manifest"\s*==', f.read()):
                    with_literal.add(path)
        self.assertEqual(with_literal, set())

    def test_includes_name_their_layer(self):
        bare = {p: i for p in sources() for i in includes(p) if "/" not in i}
        self.assertEqual(bare, {}, 'write #include "folder/file.hpp" from the repository top')

    def test_includes_only_look_down(self):
        up = []
        for path in sources(tuple(LAYERS)):
            here_top, here_sub = rank(path)
            for inc in includes(path):
                there_top, there_sub = rank(inc)
                if there_top is None:
                    up.append(f"{path} -> {inc} (not a layer)")
                elif path.split("/")[0] in BOTTOM and inc.split("/")[0] != path.split("/")[0]:
                    up.append(f"{path} -> {inc} (the bottom layers stand alone)")
                elif there_top < here_top:
                    up.append(f"{path} -> {inc}")
                elif here_sub is not None and there_sub is not None and there_sub < here_sub:
                    up.append(f"{path} -> {inc}")
        self.assertEqual(up, [])

    def test_the_simulator_shares_nothing_with_the_client(self):
        crossing = [f"{p} -> {i}" for p in sources(("sim",)) for i in includes(p) if not i.startswith("sim/")]
        crossing += [f"{p} -> {i}" for p in sources(tuple(LAYERS)) for i in includes(p) if i.startswith("sim/")]
        self.assertEqual(crossing, [])

    def test_sql_lives_in_the_store(self):
        outside = callers(r"\b(SELECT|INSERT INTO|DELETE FROM|CREATE TABLE)\b|\bUPDATE \w+ SET\b",
                          tuple(d for d in SOURCE_DIRS if d not in ("store", "sim")))
        with_strings = set()
        for path in outside:
            with_strings.add(path)
        # Strings are blanked in code_lines; look in them too.
        for path in sources(tuple(d for d in SOURCE_DIRS if d not in ("store", "sim"))):
            with open(os.path.join(ROOT, path)) as f:
                if re.search(r'"[^"\n]*\b(SELECT .* FROM|INSERT INTO|UPDATE \w+ SET)\b', f.read()):
                    with_strings.add(path)
        self.assertEqual(with_strings, set())

    def test_no_function_is_over_80_lines(self):
        ctags = shutil.which("ctags")
        if not ctags:
            self.skipTest("Universal Ctags is not installed (scripts/deps.sh installs it)")
        out = subprocess.run([ctags, "--languages=C++", "--kinds-C++=f", "--fields=+ne", "-x",
                              "--_xformat=%N\t%F\t%n\t%e", "-R", *SOURCE_DIRS],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        long = []
        for row in out.splitlines():
            name, path, start, end = row.split("\t")
            if end and int(end) - int(start) + 1 > 80:
                long.append(f"{path}:{start} {name} ({int(end) - int(start) + 1} lines)")
        self.assertEqual(long, [], "split long functions into named steps")


if __name__ == "__main__":
    unittest.main(verbosity=2)
