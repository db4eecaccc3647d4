"""payment_wechatpay_sdk: WeChat Pay's SDKs check the WeChat Pay v3 adapter.

1. Every request the adapter sends carries the Authorization that PyPI wechatpayv3
   (build_authorization) computes for the same method, URL, body, timestamp and nonce with the
   merchant key; APP payments are signed as wechatpayv3's Core.sign signs them.
2. The adapter accepts answers signed as WeChat Pay signs them (wechatpayv3 rsa_sign with the
   platform key) and refuses one changed after signing.
3. Notifications built by npm wechatpay-axios-plugin (AES-256-GCM resource, platform signature)
   pass wechatpayv3's Core.callback and the adapter; a changed one fails both.
Needs no servers: a gateway on port 0 in this process; the adapter runs in orderly-channel-probe.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import types
import unittest.mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import wechatpayv3.utils as wxutils
    from wechatpayv3.core import Core
except ImportError as e:
    print(f"FAIL: PyPI wechatpayv3 is missing from this Python ({sys.executable}): run scripts/bootstrap ({e})")
    sys.exit(1)

PROBE = os.environ["ORDERLY_CHANNEL_PROBE"]
SANDBOX = os.environ["ORDERLY_CHANNEL_SANDBOX"]
NODE = os.environ["ORDERLY_NODE"]
DEPS = os.environ["ORDERLY_DEPS_DIR"]
MCHID, APPID = "1900000001", "wx0000000000000001"  # kSandboxWechatMchId / AppId
MERCHANT_SERIAL, PLATFORM_SERIAL = "5ANDB0XMERCHANT01", "5ANDB0XPLATF0RM01"

failures = 0


def check(ok, what):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures += 1


def auth_fields(header):
    scheme, _, rest = header.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Gateway(BaseHTTPRequestHandler):
    """WeChat Pay v3 as far as the adapter uses it: checks each request's Authorization against
    wechatpayv3's, answers signed with the platform key (or changed after signing if tamper)."""
    seen = []
    tamper = False
    keys = {}

    def log_message(self, *args):
        pass

    def _handle(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        scheme, got = auth_fields(self.headers.get("Authorization", ""))
        # wechatpayv3 takes the time from time.time(): give it the request's timestamp.
        fake_time = types.SimpleNamespace(time=lambda: int(got.get("timestamp", "0")))
        with unittest.mock.patch.object(wxutils, "time", fake_time):
            expected = wxutils.build_authorization(self.path, method, MCHID, MERCHANT_SERIAL, self.keys["merchant"],
                                                   data=body or None, nonce_str=got.get("nonce_str"))
        Gateway.seen.append((method, self.path, auth_fields(expected) == (scheme, got)))
        status, answer = self._answer(method, body)
        ts, nonce = str(int(wxutils.time.time())), "N" + os.urandom(8).hex()
        signature = wxutils.rsa_sign(self.keys["platform"], f"{ts}\n{nonce}\n{answer}\n")
        if Gateway.tamper and answer:
            answer = answer.replace("NOTPAY", "SUCCESS")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Wechatpay-Timestamp", ts)
        self.send_header("Wechatpay-Nonce", nonce)
        self.send_header("Wechatpay-Serial", PLATFORM_SERIAL)
        self.send_header("Wechatpay-Signature", signature)
        self.send_header("Content-Length", str(len(answer.encode())))
        self.end_headers()
        self.wfile.write(answer.encode())

    def _answer(self, method, body):
        path = self.path.split("?")[0]
        if path.endswith("/v3/pay/transactions/native"):
            return 200, json.dumps({"code_url": "weixin://wxpay/bizpayurl?pr=probe"})
        if path.endswith("/v3/pay/transactions/app"):
            return 200, json.dumps({"prepay_id": "wx08100000000000000000000000000001"})
        if path.endswith("/close"):
            return 204, ""
        if "/v3/pay/transactions/out-trade-no/" in path:
            out_trade_no = path.rsplit("/", 1)[1]
            return 200, json.dumps({"appid": APPID, "mchid": MCHID, "out_trade_no": out_trade_no, "trade_state": "NOTPAY",
                                    "trade_state_desc": "not paid", "amount": {"total": 1234, "currency": "CNY"}})
        if path.endswith("/v3/refund/domestic/refunds"):
            req = json.loads(body)
            return 200, json.dumps({"refund_id": "50300000000000000001", "out_refund_no": req["out_refund_no"],
                                    "out_trade_no": req.get("out_trade_no", ""), "status": "PROCESSING",
                                    "amount": {"refund": req["amount"]["refund"], "total": req["amount"]["total"],
                                               "currency": "CNY"}})
        return 404, json.dumps({"code": "RESOURCE_NOT_EXISTS", "message": "no such resource"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


def probe(*args, stdin=""):
    r = subprocess.run([PROBE, *args], input=stdin, capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        raise RuntimeError(f"probe {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def build_notify(key_dir, apiv3_key, event_type, resource_type, resource, notify_id):
    req = {"deps_dir": DEPS, "platform_private_pem_file": os.path.join(key_dir, "wechat_platform_private.pem"),
           "platform_serial": PLATFORM_SERIAL, "apiv3_key": apiv3_key, "id": notify_id, "event_type": event_type,
           "resource_type": resource_type, "resource": resource}
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wechatpay_build_notify.mjs")
    r = subprocess.run([NODE, script], input=json.dumps(req), capture_output=True, text=True, timeout=15)
    if r.returncode != 0:
        raise RuntimeError(f"wechatpay_build_notify.mjs: {r.stderr}")
    return json.loads(r.stdout)


def main():
    with tempfile.TemporaryDirectory(prefix="orderly_wechatpay_sdk_") as key_dir:
        subprocess.run([SANDBOX, "--init_keys=true", f"--key_dir={key_dir}"], check=True, capture_output=True, timeout=30)
        read = lambda name: open(os.path.join(key_dir, name)).read()
        apiv3_key = read("wechat_apiv3.key").strip()
        Gateway.keys = {"merchant": wxutils.load_private_key(read("wechat_merchant_private.pem")),
                        "platform": wxutils.load_private_key(read("wechat_platform_private.pem"))}
        server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/wxpay"
        out_trade_no = f"wx-sdk-{os.getpid()}"

        # 1 and 2: requests and answers.
        for op in ("create-qr", "create-app", "query", "close", "refund"):
            r = probe("wechat-call", key_dir, base, op, out_trade_no, "1234")
            method, path, same = Gateway.seen[-1]
            check(same, f"{op}: {method} {path} carries wechatpayv3's Authorization")
            check(r.get("ok"), f"{op}: adapter accepts the signed answer ({r.get('message') or r.get('state') or ''})")
            if op == "create-app":
                a = r["app_params"]
                merchant = Core(MCHID, MERCHANT_SERIAL, read("wechat_merchant_private.pem"), apiv3_key,
                                public_key=read("wechat_platform_public.pem"), public_key_id=PLATFORM_SERIAL)
                check(a.get("sign") == merchant.sign([a.get("appid", ""), a.get("timestamp", ""), a.get("noncestr", ""), a.get("prepayid", "")]),
                      "create-app: app_params.sign is wechatpayv3's Core.sign over appid, timestamp, noncestr, prepayid")
                check(a.get("package") == "Sign=WXPay" and a.get("partnerid") == MCHID, "create-app: package and partnerid")
            if op == "query":
                check(r.get("state") == "PENDING" and r.get("amount_minor") == 1234, "query: NOTPAY read as PENDING 12.34")
        Gateway.tamper = True
        r = probe("wechat-call", key_dir, base, "query", out_trade_no, "1234")
        check(r.get("code") == "UNAUTHENTICATED", f"an answer changed after signing is refused ({r})")
        server.shutdown()

        # 3: notifications built with wechatpay-axios-plugin.
        platform = Core(MCHID, MERCHANT_SERIAL, read("wechat_merchant_private.pem"), apiv3_key,
                        public_key=read("wechat_platform_public.pem"), public_key_id=PLATFORM_SERIAL)
        paid = {"appid": APPID, "mchid": MCHID, "out_trade_no": out_trade_no, "transaction_id": "4200002026120800000001",
                "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "paid", "bank_type": "OTHERS",
                "attach": "", "success_time": "2026-12-08T10:00:00+08:00", "payer": {"openid": "o-probe"},
                "amount": {"total": 1234, "payer_total": 1234, "currency": "CNY", "payer_currency": "CNY"}}
        refunded = {"mchid": MCHID, "out_trade_no": out_trade_no, "transaction_id": "4200002026120800000001",
                    "out_refund_no": out_trade_no + "-r1", "refund_id": "50300000000000000001", "refund_status": "SUCCESS",
                    "success_time": "2026-12-08T10:05:00+08:00", "user_received_account": "balance",
                    "amount": {"total": 1234, "refund": 1234, "payer_total": 1234, "payer_refund": 1234}}
        for event, rtype, resource, field in (("TRANSACTION.SUCCESS", "transaction", paid, "trade"),
                                              ("REFUND.SUCCESS", "refund", refunded, "refund")):
            n = build_notify(key_dir, apiv3_key, event, rtype, resource, f"evt-{event}-{os.getpid()}")
            decoded = platform.callback(n["headers"], n["body"])
            check(decoded is not None and decoded["resource"] == resource, f"{event}: wechatpayv3 Core.callback verifies and decrypts it")
            got = probe("wechat-notify", key_dir, stdin=json.dumps(n))
            check(got.get("ok") and got.get(field, {}).get("state") == "SUCCEEDED" and got[field].get("amount_minor") == 1234,
                  f"{event}: adapter accepts it ({got.get('message') or got.get(field)})")
            changed = dict(n, body=n["body"].replace('"summary":"payment notification"', '"summary":"changed"'))
            check(platform.callback(changed["headers"], changed["body"]) is None, f"{event}: wechatpayv3 refuses it changed")
            check(probe("wechat-notify", key_dir, stdin=json.dumps(changed)).get("code") == "UNAUTHENTICATED",
                  f"{event}: adapter refuses it changed")
    if failures:
        print(f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
