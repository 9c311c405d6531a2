#!/usr/bin/env python3
"""The cost ledger end to end: what batchd books equals, exactly, the usage
batchd-sim reports × the pricing table × 0.5 (a fine-tuned model at its own
ft: price); a SIGKILL mid-booking books
nothing twice; a job over its limit is held and sends nothing; an unknown
model's cost is unknown, not zero."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import prices  # noqa: E402
from harness import Daemon, Sim, chat, embedding, request  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", "build/release/daemon/batchctl")

PRICES = prices.load()
FINE_TUNED = "ft:gpt-4o-mini-2024-07-18:org:suffix:abc123"
UNKNOWN = "gpt-9-nano"  # served by the simulator, priced by no table


def expected_pusd(usage_by_model, batch=True):
    """Cost in pico-dollars, exactly, from the simulator's usage report and the table's rules."""
    return prices.cost_pusd(PRICES, usage_by_model, batch)


def get(sock, target):
    return json.loads(request(sock, "GET", target)[2])


def post(sock, target, body=b""):
    status, _, text = request(sock, "POST", target, body)
    return status, json.loads(text)


def usage_metrics(d):
    """(batchd_usage_checked_total, batchd_usage_mismatch_total) from /metrics."""
    values = dict(l.rsplit(" ", 1) for l in request(d.socket, "GET", "/metrics")[2].splitlines()
                  if l and not l.startswith("#"))
    return int(values["batchd_usage_checked_total"]), int(values["batchd_usage_mismatch_total"])


def batchctl(d, *args):
    return subprocess.run([BATCHCTL, "--socket", d.socket, *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout


class LedgerTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-ledger-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_booked_cost_is_sim_usage_times_price_times_half(self):
        sim = Sim(faults={"cache_hit_rate": 0.5})  # cached prompt tokens appear in usage
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            lines = [chat(i) for i in range(300)]
            for l in lines[::2]:  # long prompts (≥ 1024 tokens) are the ones the cache serves
                l["body"]["messages"][0]["content"] = "context " * 700 + l["body"]["messages"][0]["content"]
            d.drop("chat.jsonl", lines)
            d.drop("emb.jsonl", [embedding(i) for i in range(100)])
            tuned = [chat(i) for i in range(30)]
            for l in tuned:
                l["body"]["model"] = FINE_TUNED
            d.drop("tuned.jsonl", tuned)
            chat_job, emb_job, ft_job = d.wait_for("chat"), d.wait_for("emb"), d.wait_for("tuned")
            self.assertEqual({chat_job["status"], emb_job["status"], ft_job["status"]}, {"completed"})
            usage = sim.stats()["usage"]["batch"]
            self.assertGreater(sum(u.get("cached_tokens", 0) for u in usage.values()), 0)
            ledger = get(d.socket, "/v1/ledger?by=model")
            self.assertEqual(ledger["total"]["batch_pusd"], expected_pusd(usage))
            self.assertEqual(ledger["total"]["regular_pusd"], expected_pusd(usage, batch=False))
            for row in ledger["rows"]:
                u = usage[row["key"]]
                self.assertEqual(row["priced_as"], prices.row_for(PRICES, row["key"])[0], "the row that priced it")
                self.assertEqual((row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"]),
                                 (u["prompt_tokens"], u.get("cached_tokens", 0), u.get("completion_tokens", 0)))
                self.assertEqual(row["batch_pusd"], expected_pusd({row["key"]: u}))
            # job.json carries the same figures, per job.
            jobs_total = chat_job["cost"]["batch_pusd"] + emb_job["cost"]["batch_pusd"] + ft_job["cost"]["batch_pusd"]
            self.assertEqual(jobs_total, expected_pusd(usage))
            # The fine-tuned model at its own price (API-FACTS §9: twice gpt-4o-mini's), not the base's.
            self.assertEqual(ft_job["cost"]["batch_pusd"], 2 * expected_pusd({"gpt-4o-mini": usage[FINE_TUNED]}))
            self.assertEqual(ft_job["cost"]["unpriced_requests"], 0)
            # The strings are the exact amounts, so they add up as the integers do.
            for cost in (chat_job["cost"], emb_job["cost"], ft_job["cost"], *chat_job["cost"]["by_model"],
                         ledger["total"]):
                self.assertEqual(Fraction(cost["batch_usd"]), Fraction(cost["batch_pusd"], 10**12))
                self.assertEqual(Fraction(cost["regular_usd"]), Fraction(cost["regular_pusd"], 10**12))
                self.assertEqual(Fraction(cost["saved_usd"]),
                                 Fraction(cost["regular_usd"]) - Fraction(cost["batch_usd"]), cost)
            d.stop()
        finally:
            sim.close()

    def test_a_crash_during_booking_books_nothing_twice(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim, crash_at="mid_booking")
            d.drop("job.jsonl", [chat(i) for i in range(40)])
            d.proc.wait(60)
            self.assertEqual(d.proc.returncode, -signal.SIGKILL, "died inside the booking transaction")
            d.log.close()
            d = Daemon(d.root, sim)
            job = d.wait_for("job")
            self.assertEqual(job["counts"]["succeeded"], 40)
            usage = sim.stats()["usage"]["batch"]
            ledger = get(d.socket, "/v1/ledger?by=job")
            self.assertEqual(ledger["total"]["requests"], 40)
            self.assertEqual(ledger["total"]["batch_pusd"], expected_pusd(usage))
            d.stop()
        finally:
            sim.close()

    def test_a_job_over_max_cost_is_held_and_sends_nothing(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            body = ("\n".join(json.dumps(chat(i)) for i in range(30)) + "\n").encode()
            status, job = post(d.socket, "/v1/jobs?name=capped.jsonl&max_cost_usd=0.000001", body)
            self.assertEqual(status, 201, job)
            deadline = time.time() + 10
            while job["status"] != "held" and time.time() < deadline:
                time.sleep(0.02)
                job = get(d.socket, "/v1/jobs/capped")
            self.assertEqual(job["status"], "held")
            self.assertIn("max_cost_usd $0.000001;", job["held_reason"])
            self.assertEqual(d.job("capped")["held_reason"], job["held_reason"], "job.json shows it too")
            time.sleep(0.5)  # ~3 simulated hours: still nothing sent
            stats = sim.stats()
            self.assertFalse([f for f in stats["uploads_by_filename"] if "-capped-" in f], stats["uploads_by_filename"])
            self.assertEqual(stats["batches_by_metadata"], {} if isinstance(stats["batches_by_metadata"], dict) else [])
            status, _ = post(d.socket, "/v1/jobs/capped/release")
            self.assertEqual(status, 202)
            self.assertEqual(d.wait_for("capped")["status"], "completed")
            d.stop()
        finally:
            sim.close()

    def test_the_daily_budget_holds_and_cancel_ends_a_held_job(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim, config={"daily_budget_usd": "0.000010"})
            d.drop("big.jsonl", [chat(i) for i in range(50)])
            deadline = time.time() + 10
            while (d.job("big") or {}).get("status") != "held" and time.time() < deadline:
                time.sleep(0.02)
            job = d.job("big")
            self.assertEqual(job["status"], "held")
            self.assertIn("daily budget $0.00001;", job["held_reason"])
            status, _ = post(d.socket, "/v1/jobs/big/cancel")
            self.assertEqual(status, 202)
            job = d.wait_for("big")
            self.assertEqual((job["status"], job["counts"]["failed"]), ("cancelled", 50))
            with open(os.path.join(d.spool, "outbox", "big", "errors.jsonl")) as f:
                codes = {json.loads(l)["error"]["code"] for l in f}
            self.assertEqual(codes, {"cancelled"})
            self.assertFalse([f for f in sim.stats()["uploads_by_filename"] if "-big-" in f])
            d.stop()
        finally:
            sim.close()

    def test_sighup_reloads_the_prices(self):
        sim = Sim()
        try:
            table = os.path.join(self.root, "pricing.json")
            partial = json.loads(json.dumps(PRICES))
            with open(table, "w") as f:
                json.dump({"models": {}}, f)
            d = Daemon(os.path.join(self.root, "d"), sim, pricing=table)
            lines = [chat(i) for i in range(5)]
            for l in lines:
                l["body"]["model"] = UNKNOWN
            d.drop("before.jsonl", lines)
            self.assertIsNone(d.wait_for("before")["cost"]["batch_usd"], "not in the table yet: unknown")
            with open(table, "w") as f:
                json.dump({"models": {UNKNOWN: {"input": "0.01", "output": "0.04", "as_of": "2026-12-04",
                                                "source": "the operator"}}}, f)
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline:
                with open(d.log.name) as f:
                    if "configuration reloaded" in f.read():
                        break
                time.sleep(0.02)
            d.drop("after.jsonl", lines)
            after = d.wait_for("after")
            self.assertIsNotNone(after["cost"]["batch_usd"])
            self.assertGreater(after["cost"]["batch_pusd"], 0)
            self.assertEqual(after["cost"]["by_model"][0]["priced_as"], UNKNOWN)
            d.stop()
        finally:
            sim.close()

    def test_without_any_pricing_file_costs_come_from_the_built_in_table(self):
        sim = Sim()
        try:
            # No --pricing, and no /etc/batchd/pricing.json on a test machine: the built-in table.
            d = Daemon(os.path.join(self.root, "d"), sim, pricing=None,
                       config={"pricing": os.path.join(self.root, "nowhere.json")})
            d.wait_ready()
            d.drop("priced.jsonl", [chat(i) for i in range(20)])
            job = d.wait_for("priced")
            self.assertEqual(job["status"], "completed")
            expected = expected_pusd(sim.stats()["usage"]["batch"])
            self.assertEqual(job["cost"]["batch_pusd"], expected, "exact, from the built-in table")
            health = get(d.socket, "/v1/health")
            self.assertEqual(health["pricing"]["table"], "built-in")
            self.assertEqual(health["pricing"]["as_of"], max(r["as_of"] for r in PRICES["models"].values()))
            d.stop()
        finally:
            sim.close()

    def test_a_batch_whose_usage_differs_from_its_lines_is_a_counted_mismatch(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.drop("fair.jsonl", [chat(i) for i in range(10)])
            fair = d.wait_for("fair")
            self.assertEqual(fair["status"], "completed")
            lines = sim.stats()["usage"]["batch"]["gpt-4o-mini-2024-07-18"]
            self.assertEqual(fair["batches"][0]["usage"], {"input_tokens": lines["prompt_tokens"],
                                                           "cached_tokens": lines["cached_tokens"],
                                                           "output_tokens": lines["completion_tokens"]})
            self.assertEqual(fair["usage_mismatches"], [])
            self.assertEqual(usage_metrics(d), (1, 0), "checked, and it agreed")
            self.assertNotIn("usage mismatch", batchctl(d, "show", "fair"))

            sim.set_faults({"usage_extra_input_tokens": 7})
            d.drop("skewed.jsonl", [chat(i) for i in range(100, 110)])
            skewed = d.wait_for("skewed")
            self.assertEqual(skewed["status"], "completed")
            batch = skewed["batches"][0]
            (mismatch,) = skewed["usage_mismatches"]
            self.assertEqual((mismatch["batch"], mismatch["chunk"], mismatch["attempt"]), (batch["id"], 1, 1))
            self.assertEqual(mismatch["api"], batch["usage"])
            self.assertEqual(mismatch["api"]["input_tokens"], mismatch["booked"]["input_tokens"] + 7)
            self.assertEqual(mismatch["api"]["output_tokens"], mismatch["booked"]["output_tokens"])
            # The ledger still books the lines: the whole ledger is the lines' usage at the price.
            usage = sim.stats()["usage"]["batch"]
            self.assertEqual(get(d.socket, "/v1/ledger?by=job")["total"]["batch_pusd"], expected_pusd(usage))
            self.assertEqual(get(d.socket, "/v1/jobs/skewed")["usage_mismatches"], skewed["usage_mismatches"])
            self.assertEqual(usage_metrics(d), (2, 1))
            shown = batchctl(d, "show", "skewed")
            self.assertIn(f"usage mismatch  {batch['id']}: the batch's usage says "
                          f"{mismatch['api']['input_tokens']} input", shown)
            self.assertIn(f"its lines booked {mismatch['booked']['input_tokens']} input", shown)
            with open(d.log.name) as f:
                warning = [l for l in f if "usage mismatch" in l]
            self.assertEqual(len(warning), 1, warning)
            self.assertIn(batch["id"], warning[0])

            # A batch without usage (created before 2025-09-07) is not checked, and no mismatch.
            sim.set_faults({"usage_extra_input_tokens": 0, "usage_absent": True})
            d.drop("old.jsonl", [chat(i) for i in range(200, 205)])
            old = d.wait_for("old")
            self.assertEqual((old["status"], old["batches"][0]["usage"], old["usage_mismatches"]),
                             ("completed", None, []))
            self.assertEqual(usage_metrics(d), (2, 1))
            d.stop()
        finally:
            sim.close()

    def test_an_unknown_model_costs_unknown_not_zero(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            lines = [chat(i) for i in range(10)]
            for l in lines:
                l["body"]["model"] = UNKNOWN
            d.drop("new.jsonl", lines)
            job = d.wait_for("new")
            self.assertEqual(job["status"], "completed")
            self.assertIsNone(job["cost"]["batch_usd"])
            self.assertEqual(job["cost"]["unpriced_requests"], 10)
            self.assertIsNone(job["estimate"]["batch_usd"])
            with open(d.log.name) as f:
                self.assertIn("not in the pricing table", f.read())
            d.stop()
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main()
