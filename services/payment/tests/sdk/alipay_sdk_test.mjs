// payment_alipay_sdk: Alipay's own SDKs check the Alipay adapter and the channel sandbox.
//  1. The official npm alipay-sdk calls the channel sandbox (common parameters in the query string,
//     biz_content in the form body, as it calls the real gateway) and gets signed answers it verifies.
//  2. What the adapter sends verifies with alipay-sdk: every gateway request, and the APP order
//     string (orderStr), which must be the whole signed, URL-encoded string the app SDK takes.
//  3. Notifications signed with Alipay's Python SDK (alipay-sdk-python SignatureUtils), empty fields
//     included, pass alipay-sdk's checkNotifySign and the adapter; a changed field fails both.
// Needs no servers: the sandbox runs on port 0 from its binary; the adapter runs in
// orderly-channel-probe. Environment: see services/payment/CMakeLists.txt.
import { spawn, spawnSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set (run through ctest)`);
  return process.env[k];
};
const depsDir = env('ORDERLY_DEPS_DIR');
let AlipaySdk;
try {
  ({ AlipaySdk } = createRequire(join(depsDir, 'node', 'package.json'))('alipay-sdk'));
} catch (e) {
  console.error(`FAIL: npm alipay-sdk is not in ${depsDir}/node: run scripts/bootstrap (${e.message})`);
  process.exit(1);
}
const probeBin = env('ORDERLY_CHANNEL_PROBE');
const sandboxBin = env('ORDERLY_CHANNEL_SANDBOX');
const python = env('ORDERLY_SDK_PYTHON');
const APP_ID = '2021000000000001';  // kSandboxAlipayAppId

let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) ++failures;
};

const keyDir = mkdtempSync(join(tmpdir(), 'orderly_alipay_sdk_'));
const key = (name) => readFileSync(join(keyDir, name), 'utf8');
const children = [];
const cleanup = () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(keyDir, { recursive: true, force: true });
};

// Asynchronous: the probe may be calling a gateway served by this very process.
function probe(args, input = '') {
  return new Promise((resolve, reject) => {
    const p = spawn(probeBin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`probe ${args.join(' ')}: exit ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
    p.stdin.end(input);
  });
}

// The sandbox on port 0; its log line names the port.
function startSandbox() {
  return new Promise((resolve, reject) => {
    const p = spawn(sandboxBin, ['--http_port=0', `--key_dir=${keyDir}`, '--log_level=info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`sandbox did not start: ${seen}`)), 10000);
    const onData = (d) => {
      seen += d.toString();
      const m = seen.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (code) => reject(new Error(`sandbox exited ${code}: ${seen}`)));
  });
}

// A gateway that verifies each request with alipay-sdk (the merchant's public key) and answers
// like Alipay: {"<method>_response":{...},"sign":"..."} signed with the platform key.
function startFakeGateway(merchantSdk, platformPrivatePem, seen) {
  const answers = {
    'alipay.trade.precreate': (b) => ({ code: '10000', msg: 'Success', out_trade_no: b.out_trade_no, qr_code: 'https://qr.alipay.com/probe' }),
    'alipay.trade.query': (b) => ({ code: '10000', msg: 'Success', out_trade_no: b.out_trade_no, trade_no: '', trade_status: 'WAIT_BUYER_PAY', total_amount: '12.34' }),
    'alipay.trade.close': (b) => ({ code: '10000', msg: 'Success', out_trade_no: b.out_trade_no }),
    'alipay.trade.refund': (b) => ({ code: '10000', msg: 'Success', trade_no: '2026120822001', out_trade_no: b.out_trade_no, refund_fee: b.refund_amount, fund_change: 'Y' }),
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      for (const [k, v] of new URL(req.url, 'http://x').searchParams) params[k] = v;
      const verified = merchantSdk.checkNotifySignV2(params);
      seen.push({ method: params.method, verified, params });
      const biz = JSON.parse(params.biz_content || '{}');
      const node = JSON.stringify(verified ? answers[params.method](biz)
        : { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature', sub_msg: 'invalid signature' });
      const sign = createSign('RSA-SHA256').update(node, 'utf8').sign(platformPrivatePem, 'base64');
      const key = `${params.method.replaceAll('.', '_')}_response`;
      res.writeHead(200, { 'Content-Type': 'application/json;charset=utf-8' });
      res.end(`{"${key}":${node},"sign":"${sign}"}`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function pythonSign(params) {
  const r = spawnSync(python, [new URL('./alipay_sign_notify.py', import.meta.url).pathname], {
    input: JSON.stringify({ private_key_pem_file: join(keyDir, 'alipay_platform_private.pem'), params }),
    encoding: 'utf8', timeout: 15000,
  });
  if (r.status !== 0) throw new Error(`alipay_sign_notify.py: ${r.stderr}`);
  return r.stdout.trim();
}

async function main() {
  const port = await startSandbox();  // also writes the keys into keyDir
  const gateway = `http://127.0.0.1:${port}/alipay/gateway.do`;

  // 1. The official SDK against the sandbox.
  const merchant = new AlipaySdk({
    appId: APP_ID, privateKey: key('alipay_app_private.pem'), keyType: 'PKCS8',
    alipayPublicKey: key('alipay_platform_public.pem'), gateway, timeout: 5000,
  });
  const outTradeNo = `sdk-${Date.now()}`;
  const created = await merchant.exec('alipay.trade.precreate', {
    bizContent: { out_trade_no: outTradeNo, total_amount: '12.34', subject: 'SDK test & more' },
  }, { validateSign: true });
  check(created.code === '10000' && created.qrCode, `sandbox accepts alipay-sdk exec precreate (got ${created.code} ${created.subCode ?? ''})`);
  const queried = await merchant.exec('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, { validateSign: true });
  check(queried.code === '10000' && queried.tradeStatus === 'WAIT_BUYER_PAY', `sandbox answers alipay-sdk exec query (got ${queried.code} ${queried.tradeStatus ?? queried.subCode})`);
  const forger = new AlipaySdk({
    appId: APP_ID, privateKey: key('alipay_platform_private.pem'), keyType: 'PKCS8',
    alipayPublicKey: key('alipay_platform_public.pem'), gateway, timeout: 5000,
  });
  const refused = await forger.exec('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, { validateSign: true });
  check(refused.subCode === 'isv.invalid-signature', `sandbox refuses a request signed with another key (got ${refused.subCode})`);

  // 2. What the adapter sends, verified with the SDK holding the merchant's public key.
  const merchantVerifier = new AlipaySdk({ appId: APP_ID, privateKey: key('alipay_app_private.pem'), keyType: 'PKCS8',
    alipayPublicKey: key('alipay_app_public.pem') });
  const seen = [];
  const fake = await startFakeGateway(merchantVerifier, key('alipay_platform_private.pem'), seen);
  const fakeUrl = `http://127.0.0.1:${fake.address().port}/gateway.do`;
  for (const op of ['create-qr', 'query', 'close', 'refund']) {
    const r = await probe(['alipay-call', keyDir, fakeUrl, op, outTradeNo, '1234']);
    const req = seen.at(-1);
    check(req && req.verified, `adapter's ${req?.method} request verifies with alipay-sdk`);
    check(r.ok, `adapter accepts the gateway's signed answer to ${op} (${r.message ?? r.state ?? ''})`);
  }
  const app = await probe(['alipay-call', keyDir, fakeUrl, 'create-app', outTradeNo, '1234']);
  fake.close();
  check(app.ok && app.app_params && Object.keys(app.app_params).join() === 'orderStr', `APP payment returns app_params {orderStr} (got ${JSON.stringify(app.app_params)})`);
  const orderStr = app.app_params?.orderStr ?? '';
  // Every value percent-encoded: nothing but unreserved characters and escapes between the separators.
  const pairs = orderStr.split('&').map((kv) => kv.split('='));
  check(pairs.every((p) => p.length === 2 && /^[A-Za-z0-9_.~!'()*%-]*$/.test(p[1])), 'orderStr is k=v& with every value URL-encoded');
  const order = Object.fromEntries(pairs.map(([k, v]) => [k, decodeURIComponent(v ?? '')]));
  check(order.method === 'alipay.trade.app.pay' && order.app_id === APP_ID && order.sign && order.sign_type === 'RSA2',
    `orderStr carries method, app_id, sign_type and sign (keys: ${Object.keys(order).join(',')})`);
  const biz = JSON.parse(order.biz_content ?? '{}');
  check(biz.out_trade_no === outTradeNo && biz.total_amount === '12.34', 'orderStr biz_content names the trade and amount');
  check(merchantVerifier.checkNotifySignV2({ ...order }), 'orderStr signature verifies with alipay-sdk');
  check(!merchantVerifier.checkNotifySignV2({ ...order, biz_content: order.biz_content.replace('12.34', '99.99') }),
    'a changed orderStr does not verify');
  // The same parameters as alipay-sdk's own sdkExecute for alipay.trade.app.pay puts in its string.
  const sdkStr = merchant.sdkExecute('alipay.trade.app.pay', { notify_url: order.notify_url, bizContent: biz });
  const sdkKeys = sdkStr.split('&').map((kv) => kv.split('=')[0]).sort();
  const ourKeys = Object.keys(order).filter((k) => k !== 'format').sort();
  check(sdkKeys.join() === ourKeys.join(), `orderStr has sdkExecute's parameters (sdk: ${sdkKeys.join(',')}; ours: ${ourKeys.join(',')})`);

  // 3. Notifications signed by Alipay's Python SDK, empty fields included.
  const platformVerifier = new AlipaySdk({ appId: APP_ID, privateKey: key('alipay_app_private.pem'), keyType: 'PKCS8',
    alipayPublicKey: key('alipay_platform_public.pem') });
  const notify = {
    notify_time: '2026-12-08 10:00:01', notify_type: 'trade_status_sync', notify_id: `n-${Date.now()}`,
    app_id: APP_ID, charset: 'utf-8', version: '1.0', sign_type: 'RSA2', trade_no: '2026120822001',
    out_trade_no: outTradeNo, trade_status: 'TRADE_SUCCESS', total_amount: '12.34', receipt_amount: '12.34',
    gmt_create: '2026-12-08 09:59:00', gmt_payment: '2026-12-08 10:00:00', subject: 'SDK test & more',
    body: '', passback_params: '', buyer_logon_id: 'ab***@example.com',
  };
  for (const [what, fields] of [['with empty fields', notify],
    ['without empty fields', Object.fromEntries(Object.entries(notify).filter(([, v]) => v !== ''))]]) {
    const signed = { ...fields, sign: pythonSign(fields) };
    check(platformVerifier.checkNotifySignV2({ ...signed }), `alipay-sdk checkNotifySign accepts the notification ${what}`);
    const got = await probe(['alipay-notify', keyDir], new URLSearchParams(signed).toString());
    check(got.ok && got.trade?.state === 'SUCCEEDED' && got.trade?.amount_minor === 1234,
      `adapter accepts the SDK-signed notification ${what} (${got.message ?? got.trade?.state})`);
    const changed = { ...signed, total_amount: '0.01' };
    check(!platformVerifier.checkNotifySignV2({ ...changed }), `alipay-sdk refuses the changed notification ${what}`);
    check((await probe(['alipay-notify', keyDir], new URLSearchParams(changed).toString())).code === 'UNAUTHENTICATED',
      `adapter refuses the changed notification ${what}`);
  }
}

main().then(() => {
  cleanup();
  if (failures) console.error(`${failures} check(s) failed`);
  process.exit(failures ? 1 : 0);
}, (e) => {
  cleanup();
  console.error(`FAIL: ${e.stack ?? e}`);
  process.exit(1);
});
