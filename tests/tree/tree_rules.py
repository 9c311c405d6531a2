#!/usr/bin/env python3
"""Layout promises checked on the tree itself: one file moves jobs, one
helper renames files, and the daemon's sources stay small."""
import os
import re
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCE_DIRS = ("daemon", "jobs", "openai", "store", "sim")


def sources(dirs=SOURCE_DIRS):
    for d in dirs:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if name.endswith((".cpp", ".hpp")):
                yield f"{d}/{name}"


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


class TreeRules(unittest.TestCase):
    def test_the_store_s_job_move_is_called_from_one_file(self):
        self.assertEqual(callers(r"\bmove_job\s*\(", ("daemon", "jobs", "openai")), {"jobs/job_transitions.cpp"})

    def test_rename_lives_in_the_atomic_file_helper(self):
        # The client's download renames its own .part file: openai/ does not depend on jobs/.
        self.assertEqual(callers(r"\brename\s*\(", ("daemon", "jobs", "openai", "store")),
                         {"jobs/atomic_file.cpp", "openai/client.cpp"})

    def test_no_source_file_in_jobs_or_daemon_is_over_400_lines(self):
        long = {}
        for path in sources(("daemon", "jobs")):
            with open(os.path.join(ROOT, path)) as f:
                n = sum(1 for _ in f)
            if n > 400:
                long[path] = n
        self.assertEqual(long, {})

    def test_no_kind_is_tested_by_name_outside_the_kinds(self):
        with_literal = set()
        for path in sources(("daemon", "jobs")):
            with open(os.path.join(ROOT, path)) as f:
                if re.search(r'kind\s*==\s*"manifest"|"manifest"\s*==', f.read()):
                    with_literal.add(path)
        self.assertEqual(with_literal, set())


if __name__ == "__main__":
    unittest.main(verbosity=2)
