//! The wallet page's words, in Chinese (the default) and English.

pub struct Texts {
    pub lang: &'static str,
    pub title: &'static str,
    pub switch_label: &'static str,
    pub switch_to: &'static str,
    pub available: &'static str,
    pub pending: &'static str,
    pub next_release: &'static str,
    pub held: &'static str,
    pub withdrawing: &'static str,
    pub lifetime: &'static str,
    pub clawback_note: &'static str,
    pub history: &'static str,
    pub date: &'static str,
    pub kind: &'static str,
    pub order: &'static str,
    pub amount: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub nothing_yet: &'static str,
    pub terms: &'static str,
    pub shop: &'static str,
    pub cashback_rate: &'static str,
    pub referral_rate: &'static str,
    pub hold_days: &'static str,
    pub per_order_cap: &'static str,
    pub monthly_cap: &'static str,
    pub no_cap: &'static str,
    pub no_expiry: &'static str,
    pub withdraw: &'static str,
    pub minimum: &'static str,
    pub fee: &'static str,
    pub net: &'static str,
    pub destination: &'static str,
    pub no_destination: &'static str,
    pub review: &'static str,
    pub confirm: &'static str,
    pub back: &'static str,
    pub requested: &'static str,
    pub logout: &'static str,
    pub logged_out: &'static str,
    pub login_again: &'static str,
    pub earnings: &'static str,
    pub days: &'static str,
}

pub const ZH: Texts = Texts {
    lang: "zh-CN",
    title: "我的返现钱包",
    switch_label: "English",
    switch_to: "en",
    available: "可用",
    pending: "待入账",
    next_release: "下次入账",
    held: "已冻结",
    withdrawing: "提现中",
    lifetime: "累计获得",
    clawback_note: "可用余额为负：已入账的订单发生退款，退回的返现超过了当时的可用余额。之后的返现会先抵扣这部分。",
    history: "明细",
    date: "日期",
    kind: "类型",
    order: "订单",
    amount: "金额",
    older: "更早",
    newest: "最新",
    nothing_yet: "还没有记录。",
    terms: "返现规则",
    shop: "商家",
    cashback_rate: "返现比例",
    referral_rate: "推荐奖励比例",
    hold_days: "退货期（天）",
    per_order_cap: "单笔上限",
    monthly_cap: "每月上限",
    no_cap: "无",
    no_expiry: "返现不会过期。",
    withdraw: "提现",
    minimum: "最低提现",
    fee: "手续费",
    net: "实际到账",
    destination: "到账账户",
    no_destination: "商家还没有为你登记收款账户。",
    review: "查看手续费",
    confirm: "确认提现",
    back: "返回",
    requested: "提现申请已提交。",
    logout: "退出",
    logged_out: "你已退出钱包。",
    login_again: "请从商家页面重新打开钱包。",
    earnings: "每月返现",
    days: "天",
};

pub const EN: Texts = Texts {
    lang: "en",
    title: "My cashback wallet",
    switch_label: "中文",
    switch_to: "zh-CN",
    available: "Available",
    pending: "Pending",
    next_release: "Next release",
    held: "Held",
    withdrawing: "Withdrawing",
    lifetime: "Earned in total",
    clawback_note: "Your available balance is negative: an order was refunded after its cashback was released, and more was taken back than was available then. Your next cashback pays this first.",
    history: "History",
    date: "Date",
    kind: "Kind",
    order: "Order",
    amount: "Amount",
    older: "Older",
    newest: "Newest",
    nothing_yet: "Nothing yet.",
    terms: "How you earn",
    shop: "Shop",
    cashback_rate: "Cashback rate",
    referral_rate: "Referral rate",
    hold_days: "Return window (days)",
    per_order_cap: "Cap per order",
    monthly_cap: "Cap per month",
    no_cap: "none",
    no_expiry: "Cashback never expires.",
    withdraw: "Withdraw",
    minimum: "Minimum",
    fee: "Fee",
    net: "You receive",
    destination: "Pay to",
    no_destination: "Your shop has not registered a payout account for you yet.",
    review: "See the fee",
    confirm: "Confirm withdrawal",
    back: "Back",
    requested: "Your withdrawal was requested.",
    logout: "Log out",
    logged_out: "You have logged out of your wallet.",
    login_again: "Open your wallet again from your shop.",
    earnings: "Earned per month",
    days: "days",
};

impl Texts {
    /// Which of the user's balances a history line moved.
    pub fn bucket_name(&self, bucket: &str) -> &'static str {
        match bucket {
            "pending" => self.pending,
            "available" => self.available,
            "held" => self.held,
            "withdrawing" => self.withdrawing,
            _ if self.lang == "zh-CN" => "欠款",
            _ => "Owed",
        }
    }

    /// The name of an entry kind, as the user reads it.
    pub fn kind_name(&self, kind: &str) -> &'static str {
        let zh = self.lang == "zh-CN";
        match kind {
            "order_paid" => {
                if zh {
                    "订单返现"
                } else {
                    "Cashback"
                }
            }
            "referral" => {
                if zh {
                    "推荐奖励"
                } else {
                    "Referral reward"
                }
            }
            "refund" => {
                if zh {
                    "退款扣回"
                } else {
                    "Refund"
                }
            }
            "release" => {
                if zh {
                    "入账"
                } else {
                    "Released"
                }
            }
            "hold" => {
                if zh {
                    "抵扣冻结"
                } else {
                    "Held for checkout"
                }
            }
            "capture" => {
                if zh {
                    "抵扣"
                } else {
                    "Spent"
                }
            }
            "void" => {
                if zh {
                    "解冻"
                } else {
                    "Hold released"
                }
            }
            "hold_expired" => {
                if zh {
                    "冻结到期"
                } else {
                    "Hold expired"
                }
            }
            "credit_refund" => {
                if zh {
                    "抵扣退回"
                } else {
                    "Spent credit returned"
                }
            }
            "withdrawal_requested" => {
                if zh {
                    "申请提现"
                } else {
                    "Withdrawal requested"
                }
            }
            "withdrawal_paid" => {
                if zh {
                    "提现到账"
                } else {
                    "Withdrawal paid"
                }
            }
            "withdrawal_rejected" => {
                if zh {
                    "提现退回"
                } else {
                    "Withdrawal returned"
                }
            }
            "clawback" => {
                if zh {
                    "退款欠款"
                } else {
                    "Refund owed"
                }
            }
            "clawback_repaid" => {
                if zh {
                    "欠款抵扣"
                } else {
                    "Owed amount repaid"
                }
            }
            "clawback_written_off" => {
                if zh {
                    "欠款核销"
                } else {
                    "Owed amount written off"
                }
            }
            _ => {
                if zh {
                    "调整"
                } else {
                    "Adjustment"
                }
            }
        }
    }
}

/// The language: an explicit choice, else the cookie, else Accept-Language, else Chinese.
pub fn pick(query: Option<&str>, cookie: Option<&str>, accept: Option<&str>) -> &'static Texts {
    let pick_one = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("en") {
            Some(&EN)
        } else if s.starts_with("zh") {
            Some(&ZH)
        } else {
            None
        }
    };
    query
        .and_then(pick_one)
        .or_else(|| cookie.and_then(pick_one))
        .or_else(|| accept.and_then(|a| a.split(',').find_map(|part| pick_one(part.split(';').next().unwrap_or("")))))
        .unwrap_or(&ZH)
}
