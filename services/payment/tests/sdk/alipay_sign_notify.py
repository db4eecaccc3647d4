"""Signs an Alipay asynchronous notification the way Alipay does, with Alipay's Python SDK
(alipay-sdk-python, SignatureUtils): RSA2 over the sorted parameters without sign and sign_type.

stdin: {"private_key_pem_file": "...", "params": {...}}; stdout: the Base64 signature.
"""
import json
import sys

from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2
from cryptography.hazmat.primitives import serialization


def pkcs1_body(pem_file):
    # The SDK takes the bare PKCS#1 key (what Alipay's key tool hands out); the sandbox writes PKCS#8.
    with open(pem_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def main():
    req = json.load(sys.stdin)
    params = {k: v for k, v in req["params"].items() if k not in ("sign", "sign_type")}
    print(sign_with_rsa2(pkcs1_body(req["private_key_pem_file"]), get_sign_content(params), "utf-8"))


if __name__ == "__main__":
    main()
