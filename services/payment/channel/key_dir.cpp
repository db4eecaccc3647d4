#include "channel/key_dir.hpp"

#include <nlohmann/json.hpp>

#include "channel/crypto.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {

absl::StatusOr<ChannelConfigs> ChannelConfigsFromKeyDir(const std::string& dir,
                                                        const std::string& channel_base,
                                                        const std::string& notify_base) {
  absl::Status missing = absl::OkStatus();
  auto file = [&](const char* name) {
    auto content = crypto::ReadFile(dir + "/" + name);
    if (!content.ok() && missing.ok()) {
      missing = absl::FailedPreconditionError(
          ToAbsl("channel key " + dir + "/" + name +
                 " missing: start orderly-channel-sandbox (or run it with --init_keys) first"));
    }
    return content.value_or("");
  };
  ChannelConfigs c;
  c.alipay.merchant_private_key_pem = file("alipay_app_private.pem");
  c.alipay.alipay_public_key_pem = file("alipay_platform_public.pem");
  c.wechat.merchant_private_key_pem = file("wechat_merchant_private.pem");
  c.wechat.platform_public_key_pem = file("wechat_platform_public.pem");
  c.wechat.apiv3_key = file("wechat_apiv3.key");
  while (!c.wechat.apiv3_key.empty() &&
         (c.wechat.apiv3_key.back() == '\n' || c.wechat.apiv3_key.back() == '\r')) {
    c.wechat.apiv3_key.pop_back();
  }
  c.unionpay.merchant_private_key_pem = file("unionpay_merchant_private.pem");
  c.unionpay.merchant_cert_pem = file("unionpay_merchant_cert.pem");
  c.unionpay.root_cert_pem = file("unionpay_root_ca.pem");
  const std::string ids_text = file("channels.json");
  if (!missing.ok()) return missing;
  auto ids = wire::ParseJsonObject(ids_text);
  if (!ids.ok())
    return absl::FailedPreconditionError(
        ToAbsl(dir + "/channels.json: " + std::string(ids.status().message())));
  c.alipay.app_id = wire::JsonString(*ids, "alipay.app_id");
  c.wechat.mchid = wire::JsonString(*ids, "wechatpay.mchid");
  c.wechat.appid = wire::JsonString(*ids, "wechatpay.appid");
  c.wechat.merchant_serial_no = wire::JsonString(*ids, "wechatpay.merchant_serial_no");
  c.wechat.platform_serial_no = wire::JsonString(*ids, "wechatpay.platform_serial_no");
  c.unionpay.mer_id = wire::JsonString(*ids, "unionpay.mer_id");
  c.unionpay.signer_cn_prefix = wire::JsonString(*ids, "unionpay.signer_cn");
  for (const std::string* id : {&c.alipay.app_id, &c.wechat.mchid, &c.wechat.merchant_serial_no,
                                &c.unionpay.mer_id, &c.unionpay.signer_cn_prefix}) {
    if (id->empty())
      return absl::FailedPreconditionError(ToAbsl(dir + "/channels.json lacks a merchant id"));
  }
  c.alipay.gateway_url = channel_base + "/alipay/gateway.do";
  c.wechat.base_url = channel_base + "/wechatpay";
  c.unionpay.base_url = channel_base + "/unionpay";
  c.alipay.notify_url = notify_base + "/notify/alipay";
  c.wechat.notify_url = notify_base + "/notify/wechatpay";
  c.unionpay.notify_url = notify_base + "/notify/unionpay";
  return c;
}

}  // namespace orderly::payment
