//! A payout (代付): money from a customer's account to an account at another bank, over one
//! of the interbank channels, and its life: each state, each attempt at a channel.

use suanpan_ledger::Currency;
use suanpan_routing::{Channel, ChannelSet, Origin};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PayoutState {
    /// Taken: the customer's amount held (a pending transfer); not yet routed.
    Accepted,
    /// A channel chosen for the next attempt; the instruction not yet out.
    Routed,
    /// The instruction is out (or may be): its outcome is awaited or queried, never resent.
    Sent,
    /// The channel took it and will settle it later (BEPS's batches, UnionPay payout).
    AcceptedByChannel,
    /// Settled: the customer debited, the money out of the channel's account.
    Settled,
    /// No channel would take it: the hold released, nothing moved.
    Rejected,
    /// Settled, then sent back by the beneficiary's bank: reversed to the customer.
    Returned,
}

impl PayoutState {
    pub const ALL: [PayoutState; 7] = [
        PayoutState::Accepted,
        PayoutState::Routed,
        PayoutState::Sent,
        PayoutState::AcceptedByChannel,
        PayoutState::Settled,
        PayoutState::Rejected,
        PayoutState::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::Accepted => "accepted",
            PayoutState::Routed => "routed",
            PayoutState::Sent => "sent",
            PayoutState::AcceptedByChannel => "accepted_by_channel",
            PayoutState::Settled => "settled",
            PayoutState::Rejected => "rejected",
            PayoutState::Returned => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<PayoutState> {
        PayoutState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The one table of legal moves. A re-route goes back to `Routed` with a new attempt.
    pub fn can_move_to(self, to: PayoutState) -> bool {
        use PayoutState::*;
        matches!(
            (self, to),
            (Accepted, Routed | Rejected)
                | (Routed, Sent | Rejected)
                | (Sent, AcceptedByChannel | Settled | Routed | Rejected)
                | (AcceptedByChannel, Settled | Routed | Rejected)
                | (Settled, Returned)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            PayoutState::Settled | PayoutState::Rejected | PayoutState::Returned
        )
    }
}

/// What a channel said of one instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AttemptState {
    /// Recorded before the instruction goes out: after a crash it may or may not have reached
    /// the channel, so it is queried.
    Sending,
    /// Out, no definite answer (a timeout, a lost answer): queried until there is one.
    Unknown,
    /// Taken by the channel, to settle later.
    Accepted,
    Settled,
    /// A definite refusal (PR09): the payout may go to the next channel.
    Rejected,
    /// Never reached the channel (refused connection, an outage answer, or the channel's
    /// definite "no such instruction" after the instruction's time to live).
    NotReceived,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Sending => "sending",
            AttemptState::Unknown => "unknown",
            AttemptState::Accepted => "accepted",
            AttemptState::Settled => "settled",
            AttemptState::Rejected => "rejected",
            AttemptState::NotReceived => "not_received",
        }
    }

    pub fn parse(text: &str) -> Option<AttemptState> {
        [
            AttemptState::Sending,
            AttemptState::Unknown,
            AttemptState::Accepted,
            AttemptState::Settled,
            AttemptState::Rejected,
            AttemptState::NotReceived,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The channel may still settle it: it must be followed, never replaced.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AttemptState::Sending | AttemptState::Unknown | AttemptState::Accepted
        )
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attempt {
    /// 1, 2, ... per payout.
    pub number: u32,
    pub channel: Channel,
    /// One outbound instruction id per attempt, derived from the payout and the number.
    pub instruction_id: String,
    pub state: AttemptState,
    /// The channel's own status code (CNAPS-like: PR03, PR05, PR09, ...).
    pub status_code: Option<String>,
    pub sent_ns: u64,
    pub answered_ns: Option<u64>,
}

/// One instruction id per attempt: the same payout and number always give the same id.
pub fn instruction_id(payout_id: u128, number: u32) -> String {
    format!("PO{payout_id:x}N{number}")
}

/// What a participant asks for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewPayout {
    /// The participant's own id (idempotency: the same id and fields answer the same payout).
    pub id: u128,
    /// The sending participant's owner number (its accounts).
    pub owner: u64,
    pub debit_account: u128,
    pub amount_fen: u64,
    pub currency: Currency,
    pub beneficiary_bank: String,
    pub beneficiary_account: String,
    pub beneficiary_name: String,
    /// The systems the beneficiary's bank takes part in.
    pub beneficiary_systems: ChannelSet,
    pub real_time: bool,
    pub origin: Origin,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Payout {
    pub new: NewPayout,
    pub state: PayoutState,
    /// The channel of the current attempt.
    pub channel: Option<Channel>,
    /// The rules that routed it (their version), and the route's summary sentence.
    pub rule_version: u32,
    pub route_summary: String,
    /// Every channel's reason code at the last routing, in channel order.
    pub route_reasons: Vec<(Channel, String)>,
    /// Channels that definitely refused or never received it: not tried again.
    pub excluded: ChannelSet,
    pub attempts: Vec<Attempt>,
    pub created_ns: u64,
    pub updated_ns: u64,
    /// When the worker should look at it next (send, query), if ever.
    pub next_action_ns: Option<u64>,
}

impl Payout {
    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

/// One recorded state change of a payout.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PayoutEvent {
    pub from: Option<String>,
    pub to: String,
    pub cause: String,
    pub at_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_leaves_a_final_state_but_a_return_after_settlement() {
        for from in PayoutState::ALL {
            for to in PayoutState::ALL {
                if from.is_final() && from.can_move_to(to) {
                    assert_eq!((from, to), (PayoutState::Settled, PayoutState::Returned));
                }
            }
        }
        assert!(!PayoutState::Rejected.can_move_to(PayoutState::Routed));
        assert!(
            PayoutState::Sent.can_move_to(PayoutState::Routed),
            "re-route"
        );
    }

    #[test]
    fn each_attempt_has_its_own_instruction_id() {
        assert_ne!(instruction_id(7, 1), instruction_id(7, 2));
        assert_eq!(instruction_id(255, 1), "POffN1");
    }
}
