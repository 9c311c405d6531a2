#!/usr/bin/env python3
"""batchd-sim over real sockets: the HTTP surface the unit tests can't see.

Starts the real binary (path in $BATCHD_SIM) on an ephemeral port and talks
to it with the standard library only: auth, the Files API with pagination,
chunked and 100-continue uploads, create-time validation, cancel, the
eventual-consistency 404, and each transport fault.
"""
import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

SIM = os.environ.get("BATCHD_SIM", "build/release/sim/batchd-sim")
KEY = "sk-http-test-0123456789"


class Sim:
    def __init__(self, *args):
        self.proc = subprocess.Popen([SIM, "--port", "0", "--api-key", KEY, *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        self.port = int(line.rsplit(":", 1)[1])

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)

    def call(self, method, path, body=None, headers=None, auth=True, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + KEY
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        if raw:
            return r, data
        return r.status, (json.loads(data) if data else None), r

    def upload(self, content, filename="in.jsonl", purpose="batch", chunked=False):
        boundary = "test-boundary-42"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        body = head + content + tail
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if chunked:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            headers["Authorization"] = "Bearer " + KEY
            pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
            conn.request("POST", "/v1/files", body=iter(pieces), headers=headers, encode_chunked=True)
            r = conn.getresponse()
            out = (r.status, json.loads(r.read()))
            conn.close()
            return out
        status, j, _ = self.call("POST", "/v1/files", body, headers)
        return status, j

    def faults(self, **kw):
        status, j, _ = self.call("POST", "/admin/faults", kw, auth=False)
        assert status == 200, j
        return j

    def stats(self):
        return self.call("GET", "/admin/stats", auth=False)[1]


def chat_jsonl(n, model="gpt-4o-mini"):
    return "".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}}) + "\n"
                   for i in range(n)).encode()


def assert_envelope(test, j):
    test.assertEqual(set(j["error"].keys()), {"message", "type", "param", "code"}, j)


class SimHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--time-scale", "2000", "--seed", "3")

    @classmethod
    def tearDownClass(cls):
        cls.sim.close()

    def setUp(self):
        self.sim.faults(rate_429=0, rate_5xx=0, rate_drop=0, rate_truncate=0, rate_slow=0,
                        next_429=0, next_5xx=0, next_drop=0, next_truncate=0, not_found_s=0,
                        list_lag_s=0, rate_lost_reply=0, next_lost_reply=0, rate_429_create=0, next_429_create=0,
                        rate_503_create=0, next_503_create=0, next_drop_upload=0, next_drop_batch=0,
                        insufficient_quota=False)

    def test_lists_lag_behind_creates_while_get_by_id_finds_them(self):
        self.sim.faults(list_lag_s=3600)  # an hour of simulated time: 1.8 s here
        _, f = self.sim.upload(chat_jsonl(1), filename="lagging.jsonl")
        listed = lambda: [x["id"] for x in self.sim.call("GET", "/v1/files")[1]["data"]]
        self.assertNotIn(f["id"], listed(), "not listed yet")
        self.assertEqual(self.sim.call("GET", f"/v1/files/{f['id']}")[0], 200, "but there")
        deadline = time.time() + 10
        while f["id"] not in listed() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(f["id"], listed())

    def test_a_lost_reply_still_committed_the_create(self):
        self.sim.faults(next_lost_reply=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.sim.upload(chat_jsonl(2), filename="lost-reply.jsonl")
        self.assertEqual(self.sim.stats()["uploads_by_filename"].get("lost-reply.jsonl"), 1, "it happened")
        self.assertEqual(self.sim.stats()["calls"]["POST /v1/files"].get("lost_reply"), 1)
        names = [x["filename"] for x in self.sim.call("GET", "/v1/files")[1]["data"]]
        self.assertIn("lost-reply.jsonl", names)

    def test_auth(self):
        s, j, _ = self.sim.call("GET", "/v1/files", auth=False)
        self.assertEqual(s, 401)
        assert_envelope(self, j)
        s, j, _ = self.sim.call("GET", "/v1/files", auth=False, headers={"Authorization": "Bearer sk-wrong-key-123456"})
        self.assertEqual((s, j["error"]["code"]), (401, "invalid_api_key"))
        self.assertNotIn("sk-wrong-key-123456", j["error"]["message"])

    def test_unknown_route(self):
        s, j, _ = self.sim.call("GET", "/v1/nothing")
        self.assertEqual(s, 404)
        assert_envelope(self, j)

    def test_files_round_trip_and_pagination(self):
        ids = []
        for i in range(5):
            s, f = self.sim.upload(chat_jsonl(2), filename=f"page-{i}.jsonl")
            self.assertEqual(s, 200, f)
            self.assertEqual((f["object"], f["purpose"], f["bytes"]), ("file", "batch", len(chat_jsonl(2))))
            self.assertEqual(f["expires_at"] - f["created_at"], 30 * 86400)
            ids.append(f["id"])
        seen, after = [], None
        while True:
            q = "/v1/files?purpose=batch&limit=2&order=asc" + (f"&after={after}" if after else "")
            s, page, _ = self.sim.call("GET", q)
            self.assertEqual(s, 200)
            seen += [f["id"] for f in page["data"]]
            if not page["has_more"]:
                break
            self.assertEqual(page["last_id"], page["data"][-1]["id"])
            after = page["last_id"]
        self.assertEqual([i for i in seen if i in ids], ids)
        s, page, _ = self.sim.call("GET", "/v1/files?limit=1")
        self.assertEqual(page["data"][0]["id"], ids[-1], "newest first by default")
        r, data = self.sim.call("GET", f"/v1/files/{ids[0]}/content", raw=True)
        self.assertEqual(data, chat_jsonl(2))
        s, j, _ = self.sim.call("DELETE", f"/v1/files/{ids[0]}")
        self.assertEqual(j, {"id": ids[0], "object": "file", "deleted": True})
        s, j, _ = self.sim.call("GET", f"/v1/files/{ids[0]}")
        self.assertEqual(s, 404)
        assert_envelope(self, j)
        self.assertEqual(self.sim.call("GET", "/v1/files?limit=0")[0], 400)
        self.assertEqual(self.sim.call("GET", "/v1/files?order=sideways")[0], 400)

    def test_chunked_upload_without_content_length(self):
        content = chat_jsonl(50)
        s, f = self.sim.upload(content, chunked=True)
        self.assertEqual(s, 200, f)
        self.assertEqual(self.sim.call("GET", f"/v1/files/{f['id']}/content", raw=True)[1], content)

    def test_upload_errors(self):
        s, j = self.sim.upload(b"x", purpose="nonsense")
        self.assertEqual((s, j["error"]["param"]), (400, "purpose"))
        s, j = self.sim.upload(b"x", filename="data.csv")
        self.assertEqual(s, 400)
        s, j, _ = self.sim.call("POST", "/v1/files", {"purpose": "batch"})
        self.assertEqual(s, 400)
        assert_envelope(self, j)

    def test_create_batch_checks(self):
        _, f = self.sim.upload(chat_jsonl(3))
        good = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        cases = [({**good, "completion_window": "48h"}, "completion_window"),
                 ({**good, "endpoint": "/v1/nope"}, "endpoint"),
                 ({k: v for k, v in good.items() if k != "input_file_id"}, "input_file_id"),
                 ({**good, "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
                 ({**good, "metadata": {"k": "v" * 513}}, "metadata"),
                 ({**good, "metadata": {"k" * 65: "v"}}, "metadata"),
                 ({**good, "input_file_id": "file-missing"}, "file_id")]
        for body, param in cases:
            s, j, _ = self.sim.call("POST", "/v1/batches", body)
            self.assertEqual((s, j["error"]["param"]), (400, param), body)
            assert_envelope(self, j)
        s, j, _ = self.sim.call("POST", "/v1/batches", {**good, "surprise": 1})
        self.assertEqual(s, 400)
        s, j, _ = self.sim.call("POST", "/v1/batches", "{not json", {"Content-Type": "application/json"})
        self.assertEqual(s, 400)
        s, b, _ = self.sim.call("POST", "/v1/batches", {**good, "metadata": {"job": "j", "chunk": "1"}})
        self.assertEqual((s, b["status"], b["object"]), (200, "validating", "batch"))
        self.assertEqual(b["expires_at"] - b["created_at"], 86400)
        self.assertEqual(self.sim.stats()["batches_by_metadata"].get('{"chunk":"1","job":"j"}'), 1)

    def test_batch_runs_to_completion_and_cancel_after_is_refused(self):
        _, f = self.sim.upload(chat_jsonl(5))
        _, b, _ = self.sim.call("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                        "completion_window": "24h"})
        deadline = time.time() + 20
        while b["status"] != "completed" and time.time() < deadline:
            time.sleep(0.02)
            _, b, _ = self.sim.call("GET", f"/v1/batches/{b['id']}")
        self.assertEqual(b["status"], "completed")
        self.assertEqual(b["request_counts"], {"total": 5, "completed": 5, "failed": 0})
        for k in ("in_progress_at", "finalizing_at", "completed_at"):
            self.assertIsInstance(b[k], int, k)
        s, j, _ = self.sim.call("POST", f"/v1/batches/{b['id']}/cancel")
        self.assertEqual(s, 400)
        s, page, _ = self.sim.call("GET", "/v1/batches?limit=1")
        self.assertEqual((s, page["object"]), (200, "list"))

    def test_cancel_in_flight(self):
        _, f = self.sim.upload(chat_jsonl(3))
        _, b, _ = self.sim.call("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                        "completion_window": "24h"})
        s, b, _ = self.sim.call("POST", f"/v1/batches/{b['id']}/cancel")
        self.assertEqual((s, b["status"]), (200, "cancelling"))
        self.assertIsInstance(b["cancelling_at"], int)

    def test_new_objects_404_at_first(self):
        self.sim.faults(not_found_s=3600)  # an hour of simulated time: 1.8 s here
        _, f = self.sim.upload(chat_jsonl(1))
        self.assertEqual(self.sim.call("GET", f"/v1/files/{f['id']}")[0], 404)
        s, j, _ = self.sim.call("POST", "/v1/batches", {"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                        "completion_window": "24h"})
        self.assertEqual((s, j["error"]["param"]), (400, "file_id"))
        deadline = time.time() + 10
        while self.sim.call("GET", f"/v1/files/{f['id']}")[0] == 404 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.sim.call("GET", f"/v1/files/{f['id']}")[0], 200)

    def test_429_carries_retry_headers(self):
        self.sim.faults(next_429=1, retry_after_ms=1500)
        s, j, r = self.sim.call("GET", "/v1/files")
        self.assertEqual((s, j["error"]["code"]), (429, "rate_limit_exceeded"))
        self.assertEqual((r.getheader("retry-after-ms"), r.getheader("retry-after")), ("1500", "2"))
        self.assertTrue(r.getheader("x-request-id"))
        self.assertEqual(self.sim.call("GET", "/v1/files")[0], 200)

    def test_refused_creates_make_nothing_and_say_when_to_come_back(self):
        # API-FACTS §7: a rate limit's 429 and a 503 "Slow Down" say when to try again; nothing was made.
        self.sim.faults(next_429_create=1, next_503_create=1, retry_after_ms=2000)
        s, j = self.sim.upload(chat_jsonl(1), filename="refused.jsonl")
        self.assertEqual((s, j["error"]["code"]), (429, "rate_limit_exceeded"))
        s, j = self.sim.upload(chat_jsonl(1), filename="refused.jsonl")
        self.assertEqual((s, j["error"]["type"]), (503, "server_error"))
        self.assertIn("Slow Down", j["error"]["message"])
        assert_envelope(self, j)
        s, f = self.sim.upload(chat_jsonl(1), filename="refused.jsonl")
        self.assertEqual(s, 200)
        stats = self.sim.stats()
        self.assertEqual(stats["uploads_by_filename"]["refused.jsonl"], 1, "only the third made a file")
        self.assertEqual([a["outcome"] for a in stats["upload_attempts"]["refused.jsonl"]], ["429", "503", "200"])
        # A dropped create closes with no answer and makes nothing either.
        self.sim.faults(next_drop_batch=1)
        body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h",
                "metadata": {"k": "dropped"}}
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.sim.call("POST", "/v1/batches", body)
        self.assertNotIn('{"k":"dropped"}', self.sim.stats()["batches_by_metadata"])

    def test_out_of_quota_until_switched_back(self):
        self.sim.faults(insufficient_quota=True)
        _, f = self.sim.upload(chat_jsonl(1), filename="quota.jsonl")
        body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        for _ in range(2):  # not a rate limit: it lasts, and says no Retry-After
            s, j, r = self.sim.call("POST", "/v1/batches", body)
            self.assertEqual((s, j["error"]["code"], j["error"]["type"]), (429, "insufficient_quota", "insufficient_quota"))
            self.assertIsNone(r.getheader("retry-after"))
        s, j, _ = self.sim.call("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "a"})
        self.assertEqual(s, 429, "paid synchronous calls too")
        self.sim.faults(insufficient_quota=False)
        self.assertEqual(self.sim.call("POST", "/v1/batches", body)[0], 200)

    def test_5xx_drop_and_truncate(self):
        self.sim.faults(next_5xx=1)
        s, j, _ = self.sim.call("GET", "/v1/files")
        self.assertIn(s, (500, 502, 503))
        assert_envelope(self, j)
        self.sim.faults(next_drop=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.sim.call("GET", "/v1/files")
        self.sim.faults(next_truncate=1)
        with self.assertRaises(http.client.IncompleteRead):
            self.sim.call("GET", "/v1/files")
        calls = self.sim.stats()["calls"]["GET /v1/files"]
        self.assertGreaterEqual(calls.get("dropped", 0), 1)
        self.assertGreaterEqual(calls.get("truncated", 0), 1)

    def test_admin_faults_rejects_unknown_keys(self):
        s, j, _ = self.sim.call("POST", "/admin/faults", {"rate_492": 1}, auth=False)
        self.assertEqual(s, 400)
        assert_envelope(self, j)

    def test_sync_routes(self):
        s, j, _ = self.sim.call("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"],
                                                          "dimensions": 4})
        self.assertEqual((s, len(j["data"]), len(j["data"][1]["embedding"])), (200, 2, 4))
        s, j, _ = self.sim.call("POST", "/v1/chat/completions",
                                {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual((s, j["object"]), (200, "chat.completion"))
        usage = self.sim.stats()["usage"]["sync"]
        self.assertIn("gpt-4o-2024-08-06", usage)

    def test_expect_100_continue(self):
        sock = socket.create_connection(("127.0.0.1", self.sim.port), timeout=5)
        body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                     b"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                     str(len(body)).encode() + b"\r\n\r\n")
        self.assertTrue(sock.recv(64).startswith(b"HTTP/1.1 100 Continue"))
        sock.sendall(body)
        self.assertIn(b"200 OK", sock.recv(4096))
        sock.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
