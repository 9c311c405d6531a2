#!/usr/bin/env python3
"""scripts/update-prices: the checked-in LiteLLM-format source reproduces
the built-in table byte for byte; a changed price shows in its diff; an
excerpt of LiteLLM's own file (as an operator downloads it, other providers
included) becomes an overlay that batchd loads and prices with."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from harness import Daemon, Sim, get  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "update-prices")
SOURCE = os.path.join(ROOT, "etc", "prices", "openai.litellm.json")
BUILT_IN = os.path.join(ROOT, "etc", "pricing.json")
EXCERPT = os.path.join(HERE, "data", "litellm_excerpt.json")  # BerriAI/litellm@00035b69, 54 entries


def update_prices(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=60)


class UpdatePricesTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-update-prices-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_the_source_reproduces_the_built_in_table(self):
        r = update_prices(SOURCE, "--out", BUILT_IN, "--check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "", "no row differs")
        with open(BUILT_IN) as f:
            table = json.load(f)
        with open(SOURCE) as f:
            source = json.load(f)
        self.assertEqual(sorted(table["models"]), sorted(source), "every OpenAI row, and only those")

    def test_a_changed_price_shows_in_the_diff(self):
        with open(SOURCE) as f:
            source = json.load(f)
        source["gpt-4.1-mini"]["input_cost_per_token"] = 4.5e-07
        source["gpt-4.1-mini"]["batchd_as_of"] = "2026-12-04"
        del source["babbage-002"]
        changed = os.path.join(self.root, "changed.json")
        with open(changed, "w") as f:
            json.dump(source, f)
        table = os.path.join(self.root, "pricing.json")
        shutil.copy(BUILT_IN, table)
        check = update_prices(changed, "--out", table, "--check")
        self.assertEqual(check.returncode, 1)
        self.assertIn("~ gpt-4.1-mini input: 0.4 -> 0.45", check.stdout)
        self.assertIn("~ gpt-4.1-mini as_of: 2026-09-13 -> 2026-12-04", check.stdout)
        self.assertIn("- babbage-002: removed", check.stdout)
        with open(BUILT_IN) as f, open(table) as g:
            self.assertEqual(f.read(), g.read(), "--check writes nothing")
        written = update_prices(changed, "--out", table)
        self.assertEqual(written.returncode, 0, written.stderr)
        self.assertIn("3 change(s)", written.stdout)
        with open(table) as f:
            self.assertEqual(json.load(f)["models"]["gpt-4.1-mini"]["input"], "0.45")

    def test_an_operator_s_litellm_download_becomes_an_overlay_batchd_prices_with(self):
        overlay = os.path.join(self.root, "pricing.json")
        r = update_prices(EXCERPT, "--out", overlay, "--as-of", "2026-12-01")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(overlay) as f:
            rows = json.load(f)["models"]
        for other in ("claude-haiku-4-5", "gemini-2.0-flash", "text-embedding-005"):
            self.assertNotIn(other, rows, "OpenAI rows only")
        self.assertEqual(rows["gpt-5.4"]["batch"], {"input": "1.25", "output": "7.5"})
        self.assertEqual(rows["gpt-5.4"]["above_272k"]["input"], "5")
        self.assertEqual(rows["gpt-5.4"]["as_of"], "2026-12-01")
        self.assertEqual(rows["gpt-image-1"]["image"]["output"], "40")
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim, pricing=overlay)
            d.wait_ready()
            row = get(d.socket, "/v1/prices?model=gpt-5.4-2026-03-05")["models"][0]
            self.assertEqual((row["model"], row["as_of"], row["batch"]["input"]), ("gpt-5.4", "2026-12-01", "1.25"))
            self.assertIn("+", get(d.socket, "/v1/health")["pricing"]["table"], "built-in + the overlay")
            d.stop()
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main()
