// Builds a WeChat Pay v3 notification the way WeChat Pay sends one, with the npm
// wechatpay-axios-plugin: the resource AES-256-GCM encrypted with the APIv3 key (Aes.AesGcm), the
// body signed with the platform key (Rsa.sign over Formatter.response). Used by
// wechatpay_sdk_test.py.
// stdin: {"deps_dir", "platform_private_pem_file", "platform_serial", "apiv3_key", "id",
//         "event_type", "resource_type", "resource": {...}}
// stdout: {"headers": {lower-case Wechatpay-* headers}, "body": "..."}
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const req = JSON.parse(readFileSync(0, 'utf8'));
const { Aes, Rsa, Formatter } = createRequire(join(req.deps_dir, 'node', 'package.json'))('wechatpay-axios-plugin');
const nonce = Formatter.nonce(12);
const associatedData = req.resource_type;
const body = JSON.stringify({
  id: req.id,
  create_time: '2026-12-08T10:00:01+08:00',
  resource_type: 'encrypt-resource',
  event_type: req.event_type,
  summary: 'payment notification',
  resource: {
    original_type: req.resource_type,
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext: Aes.AesGcm.encrypt(JSON.stringify(req.resource), req.apiv3_key, nonce, associatedData),
    associated_data: associatedData,
    nonce,
  },
});
const timestamp = `${Formatter.timestamp()}`;
const headerNonce = Formatter.nonce();
const privateKey = Rsa.from(`file://${req.platform_private_pem_file}`, Rsa.KEY_TYPE_PRIVATE);
process.stdout.write(JSON.stringify({
  headers: {
    'wechatpay-timestamp': timestamp,
    'wechatpay-nonce': headerNonce,
    'wechatpay-serial': req.platform_serial,
    'wechatpay-signature': Rsa.sign(Formatter.response(timestamp, headerNonce, body), privateKey),
    'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
  },
  body,
}));
