//! Payment orders and refunds, and the one table of the state changes they may make. Every
//! change goes through [`OrderState::can_move_to`] or [`RefundState::can_move_to`] inside the
//! store's transaction, so an illegal transition is refused whoever asks for it.

use serde::Serialize;

/// Where a payment order stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Taken; the channel has not yet acknowledged the payment.
    Created,
    /// The channel has the payment; the payer may pay. The result comes later.
    Paying,
    Succeeded,
    Failed,
    /// Expired or cancelled (closed at the channel first).
    Closed,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        OrderState::Created,
        OrderState::Paying,
        OrderState::Succeeded,
        OrderState::Failed,
        OrderState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Paying => "paying",
            OrderState::Succeeded => "succeeded",
            OrderState::Failed => "failed",
            OrderState::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderState::Succeeded | OrderState::Failed | OrderState::Closed
        )
    }

    /// The legal transitions. A success may still follow a close or a failure: money the
    /// channel took late is real, so it is booked (and flagged for refund), never dropped.
    /// Nothing leaves `succeeded`.
    pub fn can_move_to(self, to: OrderState) -> bool {
        use OrderState::*;
        matches!(
            (self, to),
            (Created, Paying | Succeeded | Failed | Closed)
                | (Paying, Succeeded | Failed | Closed)
                | (Failed | Closed, Succeeded)
        )
    }
}

/// Where a refund stands. A refund is its own order against a succeeded payment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Asked of the channel; no final answer yet (it is asked again until there is one).
    Processing,
    Succeeded,
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RefundState> {
        [
            RefundState::Processing,
            RefundState::Succeeded,
            RefundState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn can_move_to(self, to: RefundState) -> bool {
        self == RefundState::Processing && to != RefundState::Processing
    }
}

/// A payment order as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Order {
    /// Suanpan's order id (what the channel sees as the merchant-side trade number).
    pub id: u64,
    /// The merchant: the participant that created it, and its owner number.
    pub merchant: String,
    pub owner: u64,
    pub merchant_order_no: String,
    pub amount_minor: u64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    pub state: OrderState,
    pub created_ms: u64,
    pub expire_at_ms: u64,
    pub channel_trade_no: Option<String>,
    pub pay_url: Option<String>,
    pub refunded_minor: u64,
    /// Paid after it was closed or failed: booked, and owed back to the payer.
    pub flagged_for_refund: bool,
    pub queries: u32,
    pub next_query_ms: Option<u64>,
    /// Where the result page sends the payer back to the merchant.
    pub return_url: Option<String>,
}

/// A refund as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Refund {
    pub id: u64,
    pub order_id: u64,
    pub refund_no: String,
    pub amount_minor: u64,
    pub state: RefundState,
    pub created_ms: u64,
    /// Times the channel was asked and answered "processing" (or not at all).
    pub attempts: u32,
}

/// What a merchant asks for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewOrder {
    pub merchant_order_no: String,
    pub amount_minor: u64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    /// Seconds the payer has to pay; the gateway's default when `None`.
    pub expire_s: Option<u64>,
    /// Where the result page sends the payer back to the merchant.
    pub return_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_leaves_succeeded_and_a_late_success_is_allowed() {
        for to in OrderState::ALL {
            assert!(
                !OrderState::Succeeded.can_move_to(to),
                "succeeded -> {to:?}"
            );
        }
        assert!(OrderState::Closed.can_move_to(OrderState::Succeeded));
        assert!(OrderState::Failed.can_move_to(OrderState::Succeeded));
        assert!(!OrderState::Closed.can_move_to(OrderState::Paying));
        assert!(!OrderState::Paying.can_move_to(OrderState::Created));
        assert!(!OrderState::Paying.can_move_to(OrderState::Paying));
        assert!(RefundState::Processing.can_move_to(RefundState::Succeeded));
        assert!(!RefundState::Succeeded.can_move_to(RefundState::Failed));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in OrderState::ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
    }
}
