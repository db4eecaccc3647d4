#pragma once
// Merchant-side channel settings from a key directory laid out as the channel sandbox writes it
// (docs/payment.md "Key directory"): our merchant keys, the channels' public keys and root
// certificate, and channels.json with the merchant ids. The payment binary reads it only when
// started with --sandbox; it never holds a channel's private key.
#include <absl/status/statusor.h>

#include <string>

#include "channel/channel.hpp"

namespace orderly::payment {

struct ChannelConfigs {
  AlipayConfig alipay;
  WechatPayConfig wechat;
  UnionPayConfig unionpay;
};

// Endpoints under channel_base ("http://127.0.0.1:9110": /alipay/gateway.do, /wechatpay,
// /unionpay); notify URLs under notify_base (/notify/<channel>).
absl::StatusOr<ChannelConfigs> ChannelConfigsFromKeyDir(const std::string& dir,
                                                        const std::string& channel_base,
                                                        const std::string& notify_base);

}  // namespace orderly::payment
