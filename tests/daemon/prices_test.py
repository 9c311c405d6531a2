#!/usr/bin/env python3
"""Today's models and today's prices, end to end: a dated snapshot of each
family is booked at exactly the simulator's usage × the table's batch rates
(reasoning inside the output, cached input at the cached batch rate); a
shut-down model is rejected naming its replacement; one shutting down inside
the 24 h window is warned about; an unknown model is held when a budget or
max_cost_usd is set and otherwise completes with cost unknown (never 0);
every Batch API endpoint of the spec completes against the simulator."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import prices  # noqa: E402
from harness import Daemon, Sim, get, post  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", "build/release/daemon/batchctl")
TABLE = prices.load()
# A dated snapshot of each family users batch now (none shut down on 2026-12-04).
FAMILIES = ["gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06", "o3-2025-04-16", "gpt-5-mini-2025-08-07",
            "gpt-5.4-nano-2026-03-17", "gpt-5.6-terra", "gpt-6-luna", "gpt-6.1-terra"]


def chat(i, model, long_prompt=False):
    content = ("context " * 700 if long_prompt else "") + f"question {i}"
    return {"custom_id": f"c-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": content}]}}


def response(i, model):
    return {"custom_id": f"r-{i}", "method": "POST", "url": "/v1/responses",
            "body": {"model": model, "input": f"question {i}"}}


def wait_status(d, name, status, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = d.job(name)
        if job and job["status"] == status:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{name} never became {status}: {d.job(name)}")


class PricesTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-prices-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_each_family_books_the_usage_at_the_table_s_batch_rates(self):
        sim = Sim(faults={"cache_hit_rate": 0.5})
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            for n, model in enumerate(FAMILIES):  # a file holds one endpoint: chat, then responses
                d.drop(f"c{n}.jsonl", [chat(i, model, long_prompt=i % 2 == 0) for i in range(12)])
                d.drop(f"r{n}.jsonl", [response(i, model) for i in range(6)])
            jobs = [(d.wait_for(f"c{n}"), d.wait_for(f"r{n}")) for n in range(len(FAMILIES))]
            usage = sim.stats()["usage"]["batch"]
            self.assertGreater(sum(u.get("cached_tokens", 0) for u in usage.values()), 0, "cached input is exercised")
            for model, pair in zip(FAMILIES, jobs):
                self.assertEqual([j["status"] for j in pair], ["completed"] * 2, model)
                self.assertEqual([j.get("warnings", []) for j in pair], [[], []], model)
                u = usage[model]
                costs = [j["cost"] for j in pair]
                self.assertEqual(sum(c["batch_pusd"] for c in costs), prices.cost_pusd(TABLE, {model: u}), model)
                self.assertEqual(sum(c["regular_pusd"] for c in costs), prices.cost_pusd(TABLE, {model: u}, batch=False),
                                 model)
                self.assertEqual(sum(c["reasoning_tokens"] for c in costs), u.get("reasoning_tokens", 0), model)
                for c in costs:
                    (row,) = c["by_model"]
                    self.assertEqual(row["priced_as"], prices.row_for(TABLE, model)[0], model)
            reasoning = {m: usage[m].get("reasoning_tokens", 0) for m in FAMILIES}
            self.assertGreater(reasoning["o3-2025-04-16"], 0, "a reasoning model reports reasoning tokens")
            self.assertEqual(reasoning["gpt-4.1-mini-2025-04-14"], 0)
            by_model = {r["key"]: r for r in get(d.socket, "/v1/ledger?by=model")["rows"]}
            self.assertEqual(by_model["gpt-5.4-nano-2026-03-17"]["priced_as"], "gpt-5.4-nano")
            self.assertEqual(by_model["o3-2025-04-16"]["reasoning_tokens"], reasoning["o3-2025-04-16"])
            shown = subprocess.run([BATCHCTL, "--socket", d.socket, "ledger", "--by", "model"], capture_output=True,
                                   text=True, check=True).stdout
            self.assertIn("REASONING", shown)
            self.assertIn("PRICED AS", shown)
            self.assertIn("gpt-5.4-nano-2026-03-17", shown)
            d.stop()
        finally:
            sim.close()

    def test_a_shut_down_model_is_rejected_naming_its_replacement(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.drop("old.jsonl", [chat(i, "o4-mini-2025-04-16") for i in range(3)])
            job = d.wait_for("old")
            self.assertEqual(job["status"], "failed")
            with open(os.path.join(d.spool, "rejected", "old.jsonl.error.json")) as f:
                error = json.load(f)
            self.assertIn("shut down on 2026-10-23", error["error"])
            self.assertIn("gpt-5.6-terra", error["fix"])
            self.assertEqual(sim.stats()["uploads_by_filename"], {}, "nothing sent")
            d.stop()
        finally:
            sim.close()

    def test_a_model_shutting_down_inside_the_window_is_warned_about(self):
        sim = Sim()
        try:
            overlay = os.path.join(self.root, "pricing.json")
            tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).date().isoformat()
            row = dict(TABLE["models"]["gpt-5-mini-2025-08-07"], shutdown=tomorrow, replacement="gpt-6.1-terra")
            with open(overlay, "w") as f:
                json.dump({"models": {"gpt-5-mini-2025-08-07": row}}, f)
            d = Daemon(os.path.join(self.root, "d"), sim, pricing=overlay)
            d.drop("soon.jsonl", [chat(i, "gpt-5-mini-2025-08-07") for i in range(3)])
            job = d.wait_for("soon")
            self.assertEqual(job["status"], "completed")
            (warning,) = job["warnings"]
            self.assertIn(f"shuts down on {tomorrow}", warning)
            self.assertIn("gpt-6.1-terra", warning)
            d.stop()
        finally:
            sim.close()

    def test_an_unknown_model_is_held_under_a_limit_and_unknown_never_zero_without(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim, config={"daily_budget_usd": "100"})
            d.drop("budget.jsonl", [chat(i, "gpt-9-mini") for i in range(4)])
            held = wait_status(d, "budget", "held")
            self.assertIn("gpt-9-mini", held["held_reason"])
            self.assertIn("not in the pricing table", held["held_reason"])
            self.assertIn("no price", held["warnings"][0])
            d.stop()

            d = Daemon(os.path.join(self.root, "e"), sim)
            d.wait_ready()
            body = ("\n".join(json.dumps(chat(i, "gpt-9-mini")) for i in range(4)) + "\n").encode()
            status, _ = post(d.socket, "/v1/jobs?name=capped.jsonl&max_cost_usd=5", body)
            self.assertEqual(status, 201)
            self.assertIn("not in the pricing table", wait_status(d, "capped", "held")["held_reason"])
            d.drop("free.jsonl", [chat(i, "gpt-9-mini") for i in range(4)])
            job = d.wait_for("free")
            self.assertEqual(job["status"], "completed")
            self.assertIsNone(job["cost"]["batch_usd"], "unknown, not 0")
            self.assertIsNone(job["cost"]["batch_pusd"])
            self.assertEqual(job["cost"]["unpriced_requests"], 4)
            self.assertIn("no price", job["warnings"][0])
            self.assertEqual(uploads_named(sim, "capped"), [], "the held job sent nothing")
            d.stop()
        finally:
            sim.close()

    def test_every_batch_endpoint_of_the_spec_completes(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            gen = [{"custom_id": f"g-{i}", "method": "POST", "url": "/v1/images/generations",
                    "body": {"model": "gpt-image-2", "prompt": f"a lighthouse {i}", "quality": "low"}} for i in range(4)]
            edit = [{"custom_id": f"e-{i}", "method": "POST", "url": "/v1/images/edits",
                     "body": {"model": "gpt-image-2", "prompt": "add a boat",
                              "images": [{"image_url": "https://example.com/a.png"}]}} for i in range(3)]
            mod = [{"custom_id": f"m-{i}", "method": "POST", "url": "/v1/moderations",
                    "body": {"model": "omni-moderation-latest", "input": f"text {i}"}} for i in range(3)]
            video = [{"custom_id": "v-0", "method": "POST", "url": "/v1/videos",
                      "body": {"model": "sora-2", "prompt": "waves", "seconds": "4"}}]
            comp = [{"custom_id": "p-0", "method": "POST", "url": "/v1/completions",
                     "body": {"model": "davinci-002", "prompt": "Once", "max_tokens": 5}}]
            for name, lines in (("gen", gen), ("edit", edit), ("mod", mod), ("video", video), ("comp", comp)):
                d.drop(name + ".jsonl", lines)
            jobs = {n: d.wait_for(n) for n in ("gen", "edit", "mod", "video", "comp")}
            for name, job in jobs.items():
                self.assertEqual((name, job["status"], job["counts"]["failed"]), (name, "completed", 0))
            usage = sim.stats()["usage"]["batch"]
            self.assertGreater(usage["gpt-image-2"]["image_tokens"], 0, "edits send images")
            images = jobs["gen"]["cost"]["batch_pusd"] + jobs["edit"]["cost"]["batch_pusd"]
            self.assertEqual(images, prices.cost_pusd(TABLE, {"gpt-image-2": usage["gpt-image-2"]}))
            self.assertEqual(jobs["mod"]["cost"]["batch_usd"], "0.00", "moderation is free")
            self.assertIsNone(jobs["video"]["cost"]["batch_usd"], "video is priced per second: unknown")
            with open(os.path.join(d.spool, "outbox", "gen", "results.jsonl")) as f:
                first = json.loads(f.readline())
            self.assertTrue(first["response"]["body"]["data"][0]["b64_json"])
            d.stop()
        finally:
            sim.close()

    def test_batchctl_prices_shows_the_row_in_force(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            out = subprocess.run([BATCHCTL, "--socket", d.socket, "prices", "gpt-5.4-2026-03-05"], capture_output=True,
                                 text=True, check=True).stdout
            self.assertRegex(out, r"priced by row\s+gpt-5.4\n")
            self.assertIn("cached_input", out)
            self.assertIn("0.25 / 0.13", out, "the batch cached rate as published")
            self.assertIn("past 272k input: input", out)
            self.assertIn("as of", out)
            listing = get(d.socket, "/v1/prices")
            self.assertEqual(len(listing["models"]), len(TABLE["models"]))
            missing = subprocess.run([BATCHCTL, "--socket", d.socket, "prices", "gpt-9"], capture_output=True, text=True)
            self.assertEqual(missing.returncode, 1)
            self.assertIn("unknown (never 0)", missing.stderr)
            d.stop()
        finally:
            sim.close()


def uploads_named(sim, job):
    return [f for f in sim.stats()["uploads_by_filename"] if f"-{job}-" in f]


if __name__ == "__main__":
    unittest.main()
